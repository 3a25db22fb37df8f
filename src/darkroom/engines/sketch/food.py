"""Food and drink subjects: coffee, ramen, pizza, cake, apple, burger, ice cream, donut, banana, watermelon.

Each `draw_*` paints one dish at scale k, centred on (cx, cy) (see scene.py for `Frame`).
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import cut, intersect, union

WHITE, BROWN, CREAM = (250, 250, 248), (112, 70, 42), (246, 226, 170)
SPRINKLES = ((240, 80, 90), (80, 170, 230), (250, 210, 60), (110, 200, 120), (250, 250, 250))


def steam(sc: Scene, f: Frame, xs, y: float, colour) -> None:
    for x in xs:
        sc.fill(f.polyline([(x, y), (x - 0.02, y - 0.04), (x + 0.015, y - 0.08), (x - 0.01, y - 0.12)], 0.01),
                colour, 0.55)


def _steam_colour(sc: Scene):
    return sc.pal.card if sc.night else shade(sc.pal.ink, 1.55)


def draw_coffee(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy + 0.03 * k, k, rng.random() < 0.5)
    cup = sc.main(sc.pal.accent)
    sc.fill(f.ellipse(0, 0.14, 0.21, 0.035), shade(sc.pal.card, 0.92))
    sc.fill(f.ellipse(0, 0.135, 0.15, 0.02), shade(sc.pal.card, 0.8))
    sc.fill(f.arc(0.13, 0.01, 0.055, -math.pi / 2, math.pi / 2, 0.018), shade(cup, 0.85))
    body = union(f.rect(0, -0.02, 0.24, 0.2, 0.02), f.ellipse(0, 0.06, 0.12, 0.07))
    sc.shadow(body, k)
    sc.fill(body, cup)
    sc.fill(f.ellipse(0, -0.12, 0.12, 0.024), shade(cup, 0.8))
    sc.fill(f.ellipse(0, -0.115, 0.105, 0.017), sc.tone(BROWN))
    if sc.q:
        sc.fill(f.ellipse(0.01, -0.117, 0.04, 0.007), sc.tone((196, 150, 100)))
        sc.fill(f.rect(-0.075, 0.0, 0.022, 0.13, 0.011), shade(cup, 1.3), 0.6)
    steam(sc, f, (-0.05, 0.0, 0.05), -0.16, _steam_colour(sc))


def draw_ramen(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy + 0.04 * k, k, rng.random() < 0.5)
    bowl = sc.main((200, 60, 52))
    sc.fill(f.segment(-0.02, -0.27, 0.2, -0.05, 0.01), sc.tone((170, 120, 70)))
    sc.fill(f.segment(0.04, -0.29, 0.22, -0.07, 0.01), sc.tone((150, 100, 60)))
    sc.fill(f.ellipse(0, -0.02, 0.24, 0.05), sc.tone((200, 130, 64)))
    noodle = sc.tone((246, 214, 120))
    for i in range(5):
        y = -0.035 + 0.011 * i
        sc.fill(f.polyline([(-0.17 + 0.01 * i, y), (-0.1, y - 0.012), (-0.03, y + 0.006), (0.04, y - 0.01),
                            (0.1, y + 0.004)], 0.006), noodle)
    sc.fill(f.ellipse(0.12, -0.04, 0.05, 0.03), sc.tone(WHITE))
    sc.fill(f.circle(0.12, -0.04, 0.018), sc.tone((246, 160, 40)))
    sc.fill(f.rect(-0.1, -0.06, 0.05, 0.06, 0.005, 0.2), sc.tone((40, 60, 46)))
    sc.fill(f.circle(0.03, -0.035, 0.028), sc.tone(WHITE))
    sc.fill(f.arc(0.03, -0.035, 0.013, 0, 4.5, 0.005), sc.tone((236, 110, 150)))
    body = f.clip(f.ellipse(0, -0.02, 0.24, 0.21), 0, -0.02, 0, 1)
    sc.shadow(body, k)
    sc.fill(body, bowl)
    sc.fill(f.rect(0, 0.2, 0.16, 0.03, 0.01), shade(bowl, 0.8))
    if sc.q:
        sc.fill(intersect(body, f.rect(0, 0.05, 0.6, 0.022)), sc.tone(WHITE), 0.8)


def draw_pizza(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.3, 0.3)))
    slice_ = f.polygon([(-0.19, -0.14), (0.19, -0.14), (0, 0.24)])
    sc.shadow(slice_, k)
    sc.fill(slice_, sc.main((248, 200, 88)))
    sc.fill(f.rect(0, -0.15, 0.42, 0.07, 0.035), sc.tone((206, 140, 70)))
    for x, y in ((-0.07, -0.06), (0.07, -0.05), (0.0, 0.05), (-0.02, 0.14) if sc.q else (0.0, 0.05)):
        sc.fill(f.circle(x, y, 0.035), sc.tone((190, 50, 40)))
    if sc.q:
        for x, y in ((0.05, 0.09), (-0.1, -0.1), (0.12, -0.1)):
            sc.fill(cut(f.circle(x, y, 0.014), f.circle(x, y, 0.007)), sc.tone((50, 60, 40)))
        sc.fill(f.ellipse(-0.05, 0.09, 0.012, 0.03), sc.main((248, 200, 88)))


def draw_cake(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    icing, sponge = sc.main((244, 140, 176)), sc.tone((236, 196, 140))
    sc.fill(f.ellipse(0, 0.17, 0.25, 0.035), shade(sc.pal.card, 0.92))
    for y, w, h in ((0.09, 0.4, 0.14), (-0.06, 0.28, 0.12)):
        tier = f.rect(0, y, w, h, 0.02)
        sc.shadow(tier, k)
        sc.fill(tier, sponge)
        sc.fill(f.rect(0, y - h / 2 + 0.02, w + 0.01, 0.045, 0.02), icing)
        for i in range(5):
            x = -w / 2 + 0.04 + i * (w - 0.08) / 4
            sc.fill(f.ellipse(x, y - h / 2 + 0.045, 0.018, 0.028), icing)
    for x in (-0.07, 0.0, 0.07):
        sc.fill(f.rect(x, -0.16, 0.018, 0.07, 0.005), sc.tone((120, 170, 230)))
        sc.fill(f.ellipse(x, -0.215, 0.013, 0.024), sc.tone((250, 180, 40)))
    if sc.q:
        sc.fill(f.rect(0, 0.1, 0.4, 0.014), icing, 0.7)


def draw_apple(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy + 0.02 * k, k, rng.random() < 0.5)
    skin = sc.main(((212, 44, 44), (120, 190, 70))[int(rng.random() < 0.2)])
    sc.fill(f.curve((0, -0.1), (0.0, -0.16), (0.03, -0.2), 0.011), sc.tone(BROWN))
    sc.fill(f.ellipse(0.08, -0.18, 0.06, 0.025, -0.5), sc.tone((90, 170, 70)))
    fruit = union(f.circle(-0.065, 0.0, 0.13), f.circle(0.065, 0.0, 0.13), f.ellipse(0, 0.05, 0.12, 0.1))
    sc.shadow(fruit, k)
    sc.fill(fruit, skin)
    sc.fill(f.ellipse(-0.08, -0.03, 0.025, 0.05, 0.3), shade(skin, 1.45), 0.8)
    if sc.q:
        sc.fill(intersect(fruit, f.circle(0.13, 0.08, 0.15)), shade(skin, 0.85), 0.6)


def draw_burger(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, bun = Frame(cx, cy, k), sc.main((226, 160, 78))
    sc.fill(f.rect(0, 0.12, 0.34, 0.07, 0.035), bun)
    sc.fill(f.rect(0, 0.065, 0.37, 0.06, 0.03), sc.tone((110, 60, 36)))
    sc.fill(f.polygon([(-0.17, 0.02), (0.17, 0.02), (0.06, 0.07), (0.02, 0.09), (-0.02, 0.07)]), sc.tone((250, 200, 50)))
    sc.fill(f.rect(0, 0.015, 0.35, 0.025, 0.012), sc.tone((214, 64, 52)))
    lettuce = union(*[f.circle(-0.16 + 0.04 * i, -0.005, 0.022) for i in range(9)])
    sc.fill(lettuce, sc.tone((110, 184, 70)))
    top = f.clip(f.ellipse(0, -0.01, 0.185, 0.15), 0, -0.02, 0, -1)
    sc.shadow(top, k)
    sc.fill(top, bun)
    sc.fill(f.rect(0, -0.025, 0.37, 0.02, 0.01), shade(bun, 0.85))
    for x, y, a in ((-0.08, -0.1, 0.4), (0.0, -0.13, -0.2), (0.08, -0.09, 0.6), (-0.03, -0.07, 0.0), (0.1, -0.05, -0.3)):
        sc.fill(f.ellipse(x, y, 0.012, 0.006, a), sc.tone(CREAM))


def draw_icecream(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy + 0.02 * k, k, angle=float(rng.uniform(-0.15, 0.15)))
    cone = f.polygon([(-0.095, 0.0), (0.095, 0.0), (0, 0.26)])
    sc.fill(cone, sc.tone((222, 170, 100)))
    if sc.q:
        for i in range(-3, 4):
            sc.fill(intersect(cone, f.rect(i * 0.045, 0.12, 0.008, 0.4, 0, 0.45)), sc.tone((180, 126, 70)))
            sc.fill(intersect(cone, f.rect(i * 0.045, 0.12, 0.008, 0.4, 0, -0.45)), sc.tone((180, 126, 70)))
    flavours = ((244, 150, 180), (150, 220, 190), (120, 76, 52), (250, 236, 200))
    first = int(rng.integers(4))
    low, high = sc.main(flavours[first]), sc.tone(flavours[(first + 1 + int(rng.integers(3))) % 4])
    sc.fill(f.circle(0, -0.05, 0.1), low)
    sc.fill(union(*[f.circle(x, 0.0, 0.028) for x in (-0.075, -0.025, 0.025, 0.075)]), low)
    scoop = f.circle(0, -0.16, 0.085)
    sc.shadow(scoop, k, 0.12)
    sc.fill(scoop, high)
    sc.fill(f.circle(0.01, -0.25, 0.025), sc.tone((210, 30, 50)))
    sc.fill(f.curve((0.01, -0.27), (0.02, -0.3), (0.05, -0.31), 0.004), sc.tone(BROWN))


def draw_donut(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    dough = f.circle(0, 0, 0.17)
    sc.shadow(cut(dough, f.circle(0, 0, 0.06)), k)
    sc.fill(cut(dough, f.circle(0, 0, 0.055)), sc.tone((214, 160, 92)))
    wavy = (f.circle(0, 0, 0.16)[0], lambda u, v, c=f.pt(0, 0), r=0.145 * k: np.sqrt((u - c[0]) ** 2 + (v - c[1]) ** 2)
            - (r + 0.008 * k * np.sin(8 * np.arctan2(v - c[1], u - c[0]))))
    sc.fill(cut(wavy, f.circle(0, 0, 0.07)), sc.main((240, 120, 170)))
    for i in range(14 if sc.q else 7):
        a, r = math.tau * i / (14 if sc.q else 7) + 0.3, 0.1 + 0.025 * ((i * 7) % 3 - 1)
        colour = sc.tone(SPRINKLES[i % len(SPRINKLES)])
        sc.fill(f.rect(r * math.cos(a), r * math.sin(a), 0.028, 0.009, 0.0045, a * 2.3), colour)


def draw_banana(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5, float(rng.uniform(-0.3, 0.1)))
    yellow = sc.main((248, 214, 64))
    fruit = cut(f.circle(0, -0.16, 0.26), f.circle(0.0, -0.25, 0.265))
    fruit = intersect(fruit, f.rect(0, 0.05, 0.46, 0.3, 0.1))
    sc.shadow(fruit, k)
    sc.fill(fruit, yellow)
    sc.fill(intersect(fruit, f.circle(0.02, -0.12, 0.19)), shade(yellow, 0.85))
    sc.fill(f.segment(0.2, -0.03, 0.235, -0.085, 0.014), sc.tone((120, 90, 40)))
    sc.fill(f.circle(-0.215, -0.03, 0.012), sc.tone((90, 66, 40)))


def draw_watermelon(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy - 0.06 * k, k, angle=float(rng.uniform(-0.2, 0.2)))
    half = lambda r: f.clip(f.circle(0, 0, r), 0, 0, 0, 1)  # noqa: E731 - the lower half disc
    rind = half(0.25)
    sc.shadow(rind, k)
    sc.fill(rind, sc.tone((60, 140, 64)))
    sc.fill(half(0.225), sc.tone((214, 240, 170)))
    sc.fill(half(0.205), sc.main((236, 70, 80)))
    for x, y in ((-0.12, 0.06), (-0.04, 0.1), (0.04, 0.1), (0.12, 0.06), (0.0, 0.05), (-0.07, 0.14), (0.07, 0.14)):
        sc.fill(f.ellipse(x, y, 0.009, 0.016, x * 3), sc.tone((40, 30, 30)))


SUBJECTS = {"coffee": draw_coffee, "ramen": draw_ramen, "pizza": draw_pizza, "cake": draw_cake, "apple": draw_apple,
            "burger": draw_burger, "icecream": draw_icecream, "donut": draw_donut, "banana": draw_banana,
            "watermelon": draw_watermelon}
GROUNDED: set[str] = set()
