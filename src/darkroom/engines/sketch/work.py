"""Subjects for the running example (hero images for a todo app): checklist, phone, laptop, cards, figure.

Each `draw_*` paints one subject at (cx, cy) (the figure: standing on the ground at `base`), scale k.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Scene
from .shapes import above, circle, polygon, rect, ring, segment





def check_mark(sc: Scene, x: float, y: float, s: float, colour) -> None:
    sc.canvas.fill(segment(x - 0.5 * s, y, x - 0.12 * s, y + 0.38 * s, 0.13 * s), colour)
    sc.canvas.fill(segment(x - 0.12 * s, y + 0.38 * s, x + 0.52 * s, y - 0.4 * s, 0.13 * s), colour)


def draw_checklist(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    w, h, rows = 0.4 * k, 0.46 * k, int(rng.integers(3, 5))
    done, lengths = rng.random(rows) < 0.6, rng.uniform(0.45, 0.95, rows)
    card = rect(cx, cy, w, h, 0.035 * k)
    sc.shadow(card, k)
    c.fill(card, pal.card)
    c.fill(rect(cx, cy - h / 2 + 0.065 * k, w - 0.08 * k, 0.045 * k, 0.0225 * k), pal.accent)
    if sc.q == 2:
        c.fill(circle(cx + w / 2 - 0.075 * k, cy - h / 2 + 0.065 * k, 0.013 * k), pal.card)
    gap = (h - 0.17 * k) / rows
    for i in range(rows):
        y, bx, b = cy - h / 2 + 0.13 * k + gap * (i + 0.5), cx - w / 2 + 0.075 * k, 0.055 * k
        box = rect(bx, y, b, b, 0.013 * k)
        if done[i] or i == 0:
            c.fill(box, pal.accent2)
            check_mark(sc, bx, y, b * 0.5, pal.card)
        else:
            c.fill(ring(box, 0.004 * k), pal.ink, 0.35)
        x0, length = bx + 0.06 * k, lengths[i] * (w - 0.2 * k)
        c.fill(rect(x0 + length / 2, y - (0.008 * k if sc.q == 2 else 0), length, 0.018 * k, 0.009 * k), pal.line)
        if sc.q == 2:
            c.fill(rect(x0 + length * 0.3, y + 0.016 * k, length * 0.6, 0.009 * k, 0.0045 * k), pal.line, 0.7)


def draw_phone(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    w, h, lengths = 0.25 * k, 0.5 * k, rng.uniform(0.35, 0.9, 3)
    body = rect(cx, cy, w, h, 0.04 * k)
    sc.shadow(body, k)
    c.fill(body, pal.ink)
    c.fill(rect(cx, cy, w - 0.024 * k, h - 0.024 * k, 0.03 * k), pal.card)
    c.fill(rect(cx, cy - h / 2 + 0.03 * k, 0.07 * k, 0.016 * k, 0.008 * k), pal.ink)
    header = rect(cx, cy - h / 2 + 0.1 * k, w - 0.06 * k, 0.075 * k, 0.015 * k)
    c.fill(header, pal.accent)
    if sc.q == 2:
        c.fill(above(circle(cx + w * 0.25, cy - h / 2 + 0.1 * k, 0.05 * k), cy - h / 2 + 0.137 * k), pal.card, 0.25)
    for i in range(3):
        y = cy - h / 2 + 0.19 * k + i * 0.075 * k
        c.fill(circle(cx - w / 2 + 0.055 * k, y, 0.02 * k), (pal.accent2, pal.accent3)[i % 2])
        length = lengths[i] * (w - 0.12 * k)
        c.fill(rect(cx - w / 2 + 0.09 * k + length / 2, y, length, 0.016 * k, 0.008 * k), pal.line)
    c.fill(rect(cx, cy + h / 2 - 0.06 * k, w - 0.1 * k, 0.04 * k, 0.02 * k), pal.accent)


def draw_laptop(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    sw, sh, sy, bars = 0.58 * k, 0.36 * k, cy - 0.03 * k, rng.uniform(0.25, 1.0, 6)
    lid = rect(cx, sy, sw, sh, 0.025 * k)
    y1 = sy + sh / 2
    base = polygon([(cx - sw / 2 - 0.04 * k, y1), (cx + sw / 2 + 0.04 * k, y1),
                    (cx + sw / 2 + 0.08 * k, y1 + 0.035 * k), (cx - sw / 2 - 0.08 * k, y1 + 0.035 * k)])
    sc.shadow(lid, k)
    sc.shadow(base, k)
    c.fill(lid, pal.ink)
    c.fill(base, pal.line)
    c.fill(rect(cx, y1 + 0.004 * k, 0.1 * k, 0.008 * k, 0.004 * k), pal.ink, 0.35)
    c.fill(rect(cx, sy, sw - 0.03 * k, sh - 0.03 * k, 0.012 * k), pal.card)
    c.fill(rect(cx - sw * 0.18, sy - sh / 2 + 0.05 * k, sw * 0.45, 0.022 * k, 0.011 * k), pal.line)
    for i, b in enumerate(bars):  # a bar chart
        x, bh = cx - sw / 2 + 0.06 * k + i * 0.045 * k, b * 0.2 * k
        c.fill(rect(x, y1 - 0.04 * k - bh / 2, 0.03 * k, bh, 0.008 * k), (pal.accent, pal.accent2)[i % 2])
    donut = circle(cx + sw * 0.3, sy + 0.02 * k, 0.055 * k)
    c.fill(ring(donut, 0.014 * k), pal.accent3)
    if sc.q == 2:
        c.fill(above(ring(donut, 0.014 * k), sy + 0.02 * k), pal.accent)


def draw_figure(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    stride, wave = rng.uniform(0.01, 0.04) * k, rng.uniform(-0.6, 0.6)
    hip, shoulder = base - 0.14 * k, base - 0.29 * k
    c.fill(segment(cx - 0.07 * k, base, cx + 0.07 * k, base, 0.01 * k), pal.shadow, 0.2 if sc.q else 0)
    for side in (-1, 1):
        c.fill(segment(cx + side * 0.02 * k, hip, cx + side * (0.02 * k + stride), base - 0.015 * k, 0.02 * k), pal.ink)
    hand = (cx + 0.11 * k + 0.04 * k * math.sin(wave), shoulder - 0.09 * k * math.cos(wave))
    c.fill(segment(cx + 0.04 * k, shoulder + 0.02 * k, *hand, 0.018 * k), pal.accent)
    c.fill(segment(cx - 0.04 * k, shoulder + 0.02 * k, cx - 0.075 * k, hip, 0.018 * k), pal.accent)
    body = rect(cx, (hip + shoulder) / 2 + 0.005 * k, 0.11 * k, hip - shoulder + 0.03 * k, 0.045 * k)
    sc.shadow(body, k, 0.15)
    c.fill(body, pal.accent)
    c.fill(circle(*hand, 0.02 * k), pal.skin)
    c.fill(circle(cx - 0.075 * k, hip, 0.02 * k), pal.skin)
    hy = shoulder - 0.06 * k
    c.fill(circle(cx, hy, 0.045 * k), pal.skin)
    c.fill(above(circle(cx, hy - 0.008 * k, 0.049 * k), hy - 0.012 * k), pal.ink)
    if sc.q == 2:
        c.fill(rect(cx, (hip + shoulder) / 2 - 0.01 * k, 0.012 * k, 0.09 * k, 0.006 * k), pal.card, 0.5)


def draw_cards(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    c, pal = sc.canvas, sc.pal
    angles, offsets = rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.09, 0.09, (3, 2)) * k
    c.fill(circle(cx + offsets[0, 0] * 2, cy - 0.12 * k, 0.15 * k), pal.accent3)
    for i, colour in enumerate((pal.accent2, pal.accent, pal.card)):
        card = rect(cx + offsets[i, 0], cy + offsets[i, 1], 0.34 * k, 0.24 * k, 0.03 * k, angles[i] * (2 - i) / 2)
        sc.shadow(card, k)
        c.fill(card, colour)
    u, v = cx + offsets[2, 0], cy + offsets[2, 1]
    c.fill(circle(u - 0.1 * k, v - 0.04 * k, 0.035 * k), pal.accent)
    c.fill(rect(u + 0.03 * k, v - 0.045 * k, 0.14 * k, 0.02 * k, 0.01 * k), pal.line)
    c.fill(rect(u, v + 0.04 * k, 0.24 * k, 0.018 * k, 0.009 * k), pal.line)
    c.fill(ring(circle(cx - 0.2 * k, cy + 0.14 * k, 0.03 * k), 0.008 * k), pal.accent2)



SUBJECTS = {"checklist": draw_checklist, "phone": draw_phone, "laptop": draw_laptop, "cards": draw_cards,
            "figure": draw_figure}
GROUNDED = {"figure"}
