"""Buildings and places: lighthouse, house, castle, skyline, bridge, tent, windmill.

Each `draw_*` paints one building standing on the ground at (cx, base), scale k (see scene.py).
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import intersect, union

WHITE, RED, GLASS, DOOR = (246, 246, 244), (206, 58, 52), (170, 214, 240), (120, 76, 50)
LIGHT = (255, 222, 110)


def _window(sc: Scene, f: Frame, x: float, y: float, w: float, h: float) -> None:
    sc.fill(f.rect(x, y, w, h, 0.006), sc.tone(LIGHT) if sc.night else sc.tone(GLASS))
    if sc.q:
        sc.fill(f.rect(x, y, w, 0.006), sc.tone(WHITE))
        sc.fill(f.rect(x, y, 0.006, h), sc.tone(WHITE))


def draw_lighthouse(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    stripe = sc.main(RED)
    if sc.q:
        for side in (-1, 1):
            sc.fill(f.polygon([(0, -0.46), (side * 0.42, -0.52), (side * 0.42, -0.4)]), sc.tone(LIGHT), 0.35)
    sc.fill(f.rect(0, -0.015, 0.26, 0.05, 0.015), sc.tone((110, 110, 120)))
    tower = f.polygon([(-0.085, -0.03), (0.085, -0.03), (0.055, -0.4), (-0.055, -0.4)])
    sc.shadow(tower, k)
    sc.fill(tower, sc.tone(WHITE))
    for y in (-0.1, -0.25):
        sc.fill(intersect(tower, f.rect(0, y, 0.3, 0.07)), stripe)
    sc.fill(f.rect(0, -0.065, 0.04, 0.07, 0.015), sc.tone(DOOR))
    sc.fill(f.rect(0, -0.41, 0.16, 0.025, 0.006), sc.tone((60, 60, 70)))
    sc.fill(f.rect(0, -0.455, 0.085, 0.07), sc.tone(LIGHT))
    for x in (-0.021, 0.021):
        sc.fill(f.rect(x, -0.455, 0.007, 0.07), sc.tone((60, 60, 70)))
    sc.fill(f.polygon([(-0.07, -0.49), (0.07, -0.49), (0, -0.56)]), stripe)


def draw_house(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    wall = sc.main(((240, 222, 184), (236, 200, 170), (190, 214, 236))[int(rng.integers(3))])
    roof = sc.tone(((180, 70, 50), (90, 90, 110), (150, 90, 60))[int(rng.integers(3))])
    sc.fill(f.rect(0.1, -0.33, 0.045, 0.1), shade(roof, 0.8))
    body = f.rect(0, -0.12, 0.32, 0.24)
    sc.shadow(body, k)
    sc.fill(body, wall)
    sc.fill(f.polygon([(-0.2, -0.225), (0.2, -0.225), (0, -0.42)]), roof)
    sc.fill(f.rect(0.07, -0.065, 0.065, 0.13, 0.008), sc.tone(DOOR))
    sc.fill(f.circle(0.09, -0.06, 0.006), sc.tone(LIGHT))
    _window(sc, f, -0.075, -0.13, 0.08, 0.075)
    _window(sc, f, 0, -0.29, 0.06, 0.05)
    if sc.q:
        for x, y, r in ((0.13, -0.42, 0.02), (0.15, -0.46, 0.026), (0.18, -0.51, 0.032)):
            sc.fill(f.circle(x, y, r), sc.pal.card, 0.6)


def draw_castle(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    stone = sc.main((172, 174, 186))
    roof = sc.tone(((70, 100, 190), (190, 60, 60))[int(rng.random() < 0.5)])
    for x in (-0.15, 0.15):
        sc.fill(f.segment(x, -0.5, x, -0.58, 0.004), sc.tone((60, 60, 70)))
        sc.fill(f.polygon([(x, -0.58), (x + 0.06, -0.56), (x, -0.54)]), sc.pal.accent)
    keep = f.rect(0, -0.18, 0.24, 0.36)
    sc.shadow(keep, k)
    sc.fill(keep, shade(stone, 0.9))
    for x in (-0.08, 0.0, 0.08):
        sc.fill(f.rect(x, -0.375, 0.045, 0.04), shade(stone, 0.9))
    for x in (-0.15, 0.15):
        sc.fill(f.rect(x, -0.21, 0.1, 0.42), stone)
        sc.fill(f.polygon([(x - 0.065, -0.42), (x + 0.065, -0.42), (x, -0.52)]), roof)
        sc.fill(f.rect(x, -0.28, 0.025, 0.05, 0.012), sc.tone((60, 60, 70)))
    sc.fill(union(f.rect(0, -0.05, 0.09, 0.1), f.circle(0, -0.1, 0.045)), sc.tone(DOOR))
    if sc.q:
        for x in (-0.03, 0.0, 0.03):
            sc.fill(f.rect(x, -0.06, 0.005, 0.12), sc.tone((60, 60, 70)), 0.7)
        sc.fill(f.rect(0, -0.25, 0.03, 0.05, 0.015), sc.tone((60, 60, 70)))


def draw_skyline(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    tone = sc.main(sc.pal.accent2)
    heights = rng.uniform(0.2, 0.36, 5)
    heights[2] = 0.5
    for i, (x, w) in enumerate(((-0.22, 0.1), (-0.12, 0.1), (0.0, 0.12), (0.12, 0.1), (0.22, 0.09))):
        h = float(heights[i])
        colour = shade(tone, (0.75, 0.9, 1.0, 0.85, 0.7)[i])
        tower = f.rect(x, -h / 2, w, h)
        sc.fill(tower, colour)
        if i == 2:
            sc.fill(f.segment(x, -h, x, -h - 0.07, 0.006), colour)
            sc.fill(f.polygon([(x - w / 2, -h), (x + w / 2, -h), (x, -h - 0.04)]), colour)
        lit = sc.tone(LIGHT) if sc.night else shade(colour, 1.5)
        rows = int(h / 0.05)
        for r in range(1, rows):
            y = -h + 0.05 * r
            for c in (-1, 1):
                sc.fill(f.rect(x + c * w * 0.22, y, w * 0.26, 0.022), lit, 0.9)


def draw_bridge(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    steel = sc.main((200, 76, 50))
    deck = -0.12
    sc.fill(f.rect(0, deck + 0.01, 0.66, 0.03), shade(steel, 0.8))
    for x in (-0.17, 0.17):
        sc.fill(f.rect(x, -0.22, 0.035, 0.44, 0.004), steel)
        sc.fill(f.rect(x, -0.36, 0.05, 0.012), steel)
    cable = [f.curve((-0.17, -0.43), (0, -0.02), (0.17, -0.43), 0.006, 16)]
    cable += [f.curve((side * 0.17, -0.43), (side * 0.27, -0.2), (side * 0.33, deck), 0.006) for side in (-1, 1)]
    sc.fill(union(*cable), steel)
    if sc.q:
        for x in np.linspace(-0.14, 0.14, 9):
            t = (x + 0.17) / 0.34
            y = (1 - t) ** 2 * -0.43 + 2 * t * (1 - t) * -0.02 + t * t * -0.43
            sc.fill(f.segment(x, y, x, deck, 0.0025), steel)
    sc.fill(f.rect(0, deck, 0.66, 0.02), sc.tone((60, 60, 70)))


def draw_tent(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    canvas = sc.main((236, 124, 52))
    sc.fill(f.segment(0, -0.3, 0, -0.36, 0.006), sc.tone((90, 70, 50)))
    sc.fill(f.polygon([(0, -0.36), (0.07, -0.345), (0, -0.33)]), sc.pal.accent2)
    for side in (-1, 1):
        sc.fill(f.segment(side * 0.2, -0.02, side * 0.3, 0, 0.003), sc.tone((90, 70, 50)))
    tent = f.polygon([(-0.23, 0), (0.23, 0), (0, -0.31)])
    sc.shadow(tent, k)
    sc.fill(tent, canvas)
    sc.fill(f.polygon([(0, -0.31), (0.23, 0), (0.0, 0)]), shade(canvas, 0.85))
    sc.fill(f.polygon([(-0.07, 0), (0.07, 0), (0, -0.17)]), sc.tone((60, 40, 40)))
    sc.fill(f.polygon([(0, -0.17), (0.07, 0), (0.03, 0)]), shade(canvas, 1.2))


def draw_windmill(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    wall = sc.main((236, 224, 204))
    tower = f.polygon([(-0.09, 0), (0.09, 0), (0.05, -0.36), (-0.05, -0.36)])
    sc.shadow(tower, k)
    sc.fill(tower, wall)
    sc.fill(f.polygon([(0.0, 0), (0.09, 0), (0.05, -0.36), (0.0, -0.36)]), shade(wall, 0.9))
    sc.fill(union(f.ellipse(0, -0.37, 0.07, 0.05), f.rect(0, -0.36, 0.12, 0.02)), sc.tone((160, 70, 50)))
    sc.fill(union(f.rect(0, -0.04, 0.05, 0.08), f.circle(0, -0.08, 0.025)), sc.tone(DOOR))
    _window(sc, f, 0, -0.2, 0.035, 0.045)
    turn, hub = float(rng.uniform(0, math.pi / 2)), (0, -0.37)
    frame, cloth = sc.tone((110, 76, 54)), sc.tone((250, 246, 236))
    for i in range(4):
        a = turn + i * math.pi / 2
        ca, sa = math.cos(a), math.sin(a)
        mx, my = hub[0] + 0.14 * ca - 0.022 * sa, hub[1] + 0.14 * sa + 0.022 * ca
        sc.fill(f.rect(mx, my, 0.16, 0.042, 0.004, a), cloth)
        sc.fill(f.segment(hub[0], hub[1], hub[0] + 0.23 * ca, hub[1] + 0.23 * sa, 0.006), frame)
    sc.fill(f.circle(*hub, 0.018), frame)


SUBJECTS = {"lighthouse": draw_lighthouse, "house": draw_house, "castle": draw_castle, "skyline": draw_skyline,
            "bridge": draw_bridge, "tent": draw_tent, "windmill": draw_windmill}
GROUNDED = set(SUBJECTS)
