"""Icons for interfaces: heart, star, check mark, bell, chat, lock, gear, envelope, calendar, chart,
upload, search, map pin.

Each `draw_*` paints one icon centred on (cx, cy) at scale k, flat with a soft shadow, in the
palette's accents unless it has a colour of its own (a red heart, a gold star) or the prompt names one.
"""

from __future__ import annotations

import math

import numpy as np

from .nature import cloud_shape
from .scene import Frame, Scene, shade
from .shapes import cut, union
from .work import check_mark

WHITE, INK, GOLD, RED = (250, 250, 250), (44, 42, 52), (248, 196, 50), (226, 58, 84)


def _flat(sc: Scene, shape, colour, k: float) -> None:
    sc.shadow(shape, k)
    sc.fill(shape, colour)


def draw_heart(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(RED)
    _flat(sc, f.heart(0, 0, 0.44), colour, k)
    sc.fill(f.ellipse(-0.11, -0.09, 0.025, 0.045, 0.6), shade(colour, 1.5), 0.8)


def draw_star(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(GOLD)
    _flat(sc, f.star(0, 0.02, 0.23, 0.46), colour, k)
    sc.fill(f.star(0, 0.02, 0.13, 0.46), shade(colour, 1.2))


def draw_checkmark(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main((60, 180, 110))
    _flat(sc, f.circle(0, 0, 0.19), colour, k)
    x, y = f.pt(0.01, 0.0)
    check_mark(sc, x, y, 0.2 * k, sc.tone(WHITE))


def draw_bell(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.25, 0.25)))
    colour = sc.main(GOLD)
    sc.fill(f.circle(0, 0.13, 0.04), shade(colour, 0.75))
    body = f.outline([(-0.16, 0.1), (-0.12, 0.05), (-0.11, -0.07), (-0.075, -0.14), (0, -0.17), (0.075, -0.14),
                      (0.11, -0.07), (0.12, 0.05), (0.16, 0.1)])
    _flat(sc, union(body, f.rect(0, 0.1, 0.33, 0.04, 0.02)), colour, k)
    sc.fill(f.circle(0, -0.19, 0.025), colour)
    sc.fill(f.ellipse(-0.06, -0.06, 0.018, 0.05, 0.2), shade(colour, 1.4))
    if sc.q:
        for side in (-1, 1):
            start = -0.5 if side > 0 else math.pi - 0.5
            sc.fill(f.arc(0, -0.02, 0.23, start, start + 1.0, 0.01), colour, 0.7)


def draw_chat(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5)
    colour = sc.main(sc.pal.accent)
    back = union(f.rect(0.1, -0.1, 0.3, 0.2, 0.06), f.polygon([(0.14, -0.02), (0.22, -0.02), (0.23, 0.04)]))
    _flat(sc, back, sc.pal.accent3, k)
    front = union(f.rect(-0.06, 0.03, 0.34, 0.22, 0.06), f.polygon([(-0.17, 0.1), (-0.07, 0.12), (-0.2, 0.2)]))
    _flat(sc, front, colour, k)
    for x in (-0.14, -0.06, 0.02):
        sc.fill(f.circle(x, 0.03, 0.022), sc.tone(WHITE))


def draw_lock(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(GOLD)
    sc.fill(union(f.arc(0, -0.07, 0.09, math.pi, math.tau, 0.024), f.segment(-0.09, -0.07, -0.09, 0.0, 0.024),
                  f.segment(0.09, -0.07, 0.09, 0.0, 0.024)), sc.tone((150, 152, 166)))
    _flat(sc, f.rect(0, 0.07, 0.3, 0.22, 0.03), colour, k)
    sc.fill(union(f.circle(0, 0.05, 0.028), f.polygon([(-0.018, 0.06), (0.018, 0.06), (0.01, 0.12), (-0.01, 0.12)])),
            shade(colour, 0.5))


def draw_gear(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(0, math.pi / 4)))
    colour = sc.main((120, 130, 150))
    teeth = [f.rect(0.165 * math.cos(a), 0.165 * math.sin(a), 0.07, 0.06, 0.01, a) for a in
             (math.tau * i / 8 for i in range(8))]
    _flat(sc, cut(union(f.circle(0, 0, 0.15), *teeth), f.circle(0, 0, 0.055)), colour, k)
    sc.fill(cut(f.circle(0, 0, 0.1), f.circle(0, 0, 0.055)), shade(colour, 1.2))


def draw_envelope(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.15, 0.15)))
    paper, colour = sc.tone(WHITE), sc.main(sc.pal.accent)
    _flat(sc, f.rect(0, 0, 0.42, 0.28, 0.02), colour, k)
    sc.fill(f.polygon([(-0.21, 0.14), (0, -0.02), (0.21, 0.14)]), shade(colour, 0.85))
    sc.fill(f.polygon([(-0.205, -0.14), (0.205, -0.14), (0, 0.04)]), shade(colour, 1.2))
    sc.fill(f.heart(0, 0.0, 0.06), sc.tone(RED) if sc.own is None else paper)


def draw_calendar(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour, paper = sc.main((226, 70, 64)), sc.tone(WHITE)
    _flat(sc, f.rect(0, 0.02, 0.38, 0.34, 0.03), paper, k)
    sc.fill(f.clip(f.rect(0, 0.02, 0.38, 0.34, 0.03), 0, -0.08, 0, -1), colour)
    for x in (-0.1, 0.1):
        sc.fill(f.rect(x, -0.15, 0.025, 0.07, 0.012), sc.tone(INK))
    today = int(rng.integers(12))
    for i in range(12):
        x, y = -0.135 + (i % 4) * 0.09, -0.02 + (i // 4) * 0.07
        sc.fill(f.rect(x, y, 0.055, 0.045, 0.008), sc.pal.accent2 if i == today else shade(paper, 0.86))


def draw_chart(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    _flat(sc, f.rect(0, 0, 0.44, 0.34, 0.03), sc.pal.card, k)
    heights = np.sort(rng.uniform(0.06, 0.24, 5))
    colour = sc.main(sc.pal.accent)
    for i, h in enumerate(heights):
        x = -0.16 + i * 0.08
        sc.fill(f.rect(x, 0.13 - h / 2, 0.05, h, 0.008), colour if i % 2 == 0 else sc.pal.accent2)
    pts = [(-0.16 + i * 0.08, 0.13 - h - 0.03) for i, h in enumerate(heights)]
    sc.fill(f.polyline(pts, 0.007), sc.pal.ink)
    for x, y in pts:
        sc.fill(f.circle(x, y, 0.014), sc.pal.ink)
    sc.fill(f.segment(-0.2, 0.14, 0.2, 0.14, 0.004), sc.pal.ink, 0.6)


def draw_upload(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(sc.pal.accent)
    _flat(sc, cloud_shape(f, 0, 0, 1.3), colour, k)
    white = sc.tone(WHITE)
    sc.fill(f.rect(0, 0.05, 0.04, 0.11, 0.01), white)
    sc.fill(f.polygon([(-0.07, 0.01), (0.07, 0.01), (0, -0.07)]), white)


def draw_search(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5)
    colour = sc.main(sc.pal.ink)
    sc.fill(f.circle(-0.04, -0.04, 0.11), sc.tone((200, 230, 250)), 0.7)
    glass = union(f.arc(-0.04, -0.04, 0.12, 0, math.tau, 0.025), f.segment(0.055, 0.055, 0.17, 0.17, 0.035))
    _flat(sc, glass, colour, k)
    sc.fill(f.arc(-0.04, -0.04, 0.075, 3.5, 4.6, 0.01), sc.tone(WHITE))


def draw_pin(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(RED)
    sc.fill(f.ellipse(0, 0.21, 0.08, 0.02), sc.pal.shadow, 0.25)
    pin = union(f.circle(0, -0.07, 0.13), f.polygon([(-0.113, -0.005), (0.113, -0.005), (0, 0.2)]))
    _flat(sc, pin, colour, k)
    sc.fill(f.circle(0, -0.07, 0.05), sc.tone(WHITE))


SUBJECTS = {"heart": draw_heart, "star": draw_star, "checkmark": draw_checkmark, "bell": draw_bell, "chat": draw_chat,
            "lock": draw_lock, "gear": draw_gear, "envelope": draw_envelope, "calendar": draw_calendar,
            "chart": draw_chart, "upload": draw_upload, "search": draw_search, "pin": draw_pin}
GROUNDED: set[str] = set()
