"""Vehicles: car, bus, bicycle, rocket, sailboat, plane, train, hot air balloon.

Each `draw_*` paints one vehicle at scale k, facing left or right by the seed: grounded ones
(`GROUNDED`) stand on the ground at (cx, base), the others are centred on (cx, cy).
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import intersect, union

TYRE, HUB, GLASS, WHITE = (44, 44, 52), (190, 190, 200), (170, 214, 240), (248, 248, 246)
LIGHT = (255, 222, 110)


def wheel(sc: Scene, f: Frame, x: float, y: float, r: float) -> None:
    sc.fill(f.circle(x, y, r), sc.tone(TYRE))
    sc.fill(f.circle(x, y, r * 0.45), sc.tone(HUB))


def draw_car(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    paint = sc.main(((214, 52, 48), (52, 110, 200), (246, 190, 40), (60, 60, 70))[int(rng.integers(4))])
    cabin = f.outline([(-0.15, -0.11), (0.1, -0.11), (0.05, -0.2), (-0.1, -0.2)])
    sc.fill(cabin, paint)
    sc.fill(f.outline([(-0.125, -0.12), (-0.03, -0.12), (-0.03, -0.185), (-0.09, -0.185)]), sc.tone(GLASS))
    sc.fill(f.outline([(-0.015, -0.12), (0.075, -0.12), (0.04, -0.185), (-0.015, -0.185)]), sc.tone(GLASS))
    body = f.rect(0, -0.075, 0.46, 0.085, 0.03)
    sc.shadow(body, k)
    sc.fill(body, paint)
    if sc.q:
        sc.fill(f.rect(-0.02, -0.1, 0.004, 0.05), shade(paint, 0.7))
        sc.fill(f.rect(0.0, -0.09, 0.02, 0.006, 0.003), shade(paint, 0.6))
    sc.fill(f.rect(0.22, -0.085, 0.025, 0.02, 0.008), sc.tone(LIGHT))
    sc.fill(f.rect(-0.225, -0.085, 0.018, 0.02, 0.006), sc.tone((200, 40, 40)))
    for x in (-0.13, 0.13):
        wheel(sc, f, x, -0.04, 0.045)


def draw_bus(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    paint = sc.main((246, 188, 40))
    body = f.rect(0, -0.15, 0.5, 0.2, 0.035)
    sc.shadow(body, k)
    sc.fill(body, paint)
    for i in range(5):
        sc.fill(f.rect(-0.2 + i * 0.075, -0.185, 0.055, 0.06, 0.008), sc.tone(GLASS))
    sc.fill(f.rect(0.21, -0.165, 0.05, 0.12, 0.008), sc.tone(GLASS))
    sc.fill(f.rect(0, -0.11, 0.5, 0.014), shade(paint, 0.7))
    sc.fill(f.rect(0.245, -0.08, 0.012, 0.02, 0.005), sc.tone(LIGHT))
    for x in (-0.15, 0.15):
        wheel(sc, f, x, -0.045, 0.045)


def draw_bicycle(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    frame = sc.main(((52, 130, 210), (214, 60, 52), (60, 170, 110))[int(rng.integers(3))])
    rear, front, crank = (-0.15, -0.1), (0.15, -0.1), (-0.01, -0.1)
    seat, head = (-0.06, -0.25), (0.1, -0.24)
    for x, y in (rear, front):
        sc.fill(f.arc(x, y, 0.09, 0, math.tau, 0.011), sc.tone(TYRE))
        if sc.q:
            for i in range(6):
                a = i * math.pi / 3
                sc.fill(f.segment(x, y, x + 0.085 * math.cos(a), y + 0.085 * math.sin(a), 0.002), sc.tone(HUB))
        sc.fill(f.circle(x, y, 0.012), sc.tone(HUB))
    sc.fill(f.polyline([rear, crank, seat, rear], 0.01), frame)
    sc.fill(f.polyline([seat, head, crank], 0.01), frame)
    sc.fill(f.segment(*head, *front, 0.01), frame)
    sc.fill(f.segment(*head, 0.09, -0.285, 0.01), sc.tone(TYRE))
    sc.fill(f.segment(0.07, -0.29, 0.12, -0.29, 0.01), sc.tone(TYRE))
    sc.fill(f.segment(*seat, -0.065, -0.275, 0.008), sc.tone(TYRE))
    sc.fill(f.ellipse(-0.065, -0.28, 0.035, 0.011), sc.tone(TYRE))
    sc.fill(f.circle(*crank, 0.02), sc.tone(TYRE))
    sc.fill(f.segment(*crank, 0.02, -0.075, 0.006), sc.tone(TYRE))


def draw_rocket(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(0.2, 0.6)))
    trim = sc.main((214, 56, 52))
    sc.fill(f.ellipse(0, 0.2, 0.04, 0.08), sc.tone((250, 150, 40)))
    sc.fill(f.ellipse(0, 0.18, 0.02, 0.045), sc.tone((255, 226, 100)))
    for side in (-1, 1):
        sc.fill(f.polygon([(side * 0.055, 0.02), (side * 0.11, 0.11), (side * 0.11, 0.15), (side * 0.055, 0.12)]), trim)
    hull = f.outline([(-0.06, 0.13), (0.06, 0.13), (0.063, -0.04), (0.05, -0.12), (0.025, -0.18), (0, -0.21),
                      (-0.025, -0.18), (-0.05, -0.12), (-0.063, -0.04)])
    sc.shadow(hull, k)
    sc.fill(hull, sc.tone(WHITE))
    sc.fill(f.clip(hull, 0, -0.1, 0, -1), trim)
    sc.fill(f.rect(0, 0.13, 0.1, 0.03, 0.01), shade(sc.tone(WHITE), 0.7))
    sc.fill(f.circle(0, -0.03, 0.035), shade(trim, 0.6))
    sc.fill(f.circle(0, -0.03, 0.024), sc.tone(GLASS))
    sc.fill(f.segment(0, 0.03, 0, 0.09, 0.007), trim)


def draw_sailboat(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    hull = sc.main(((50, 70, 120), (170, 90, 50), (200, 60, 52))[int(rng.integers(3))])
    sc.fill(f.segment(0, -0.08, 0, -0.46, 0.007), sc.tone((110, 80, 56)))
    sc.fill(f.polygon([(0.015, -0.44), (0.015, -0.11), (0.2, -0.11)]), sc.tone(WHITE))
    sc.fill(f.polygon([(-0.015, -0.4), (-0.015, -0.12), (-0.15, -0.12)]), sc.pal.accent3 if sc.own is None else shade(hull, 1.5))
    sc.fill(f.polygon([(0, -0.46), (0.06, -0.45), (0, -0.43)]), sc.pal.accent2)
    boat = f.polygon([(-0.22, -0.1), (0.22, -0.1), (0.15, -0.01), (-0.15, -0.01)])
    sc.shadow(boat, k)
    sc.fill(boat, hull)
    sc.fill(f.rect(0, -0.085, 0.41, 0.012), sc.tone(WHITE))
    if sc.q:
        for x in (-0.2, 0.0, 0.2):
            sc.fill(f.arc(x, 0.02, 0.05, math.pi * 1.15, math.pi * 1.85, 0.006), sc.tone((70, 140, 210)))


def draw_plane(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5, float(rng.uniform(-0.25, -0.05)))
    livery = sc.main(sc.pal.accent)
    sc.fill(f.polygon([(0.01, 0.0), (-0.07, 0.0), (-0.15, -0.13), (-0.11, -0.13)]), shade(livery, 0.75))
    sc.fill(f.outline([(-0.2, -0.01), (-0.26, -0.01), (-0.28, -0.13), (-0.24, -0.13)]), livery)
    body = union(f.ellipse(0.0, 0.0, 0.27, 0.045), f.rect(-0.1, 0, 0.3, 0.09, 0.045))
    sc.shadow(body, k)
    sc.fill(body, sc.tone(WHITE))
    sc.fill(intersect(body, f.rect(0, 0.022, 0.6, 0.018)), livery)
    for i in range(7):
        sc.fill(f.circle(-0.15 + i * 0.045, -0.008, 0.011), sc.tone((80, 120, 170)))
    sc.fill(f.ellipse(0.225, -0.014, 0.03, 0.013, 0.2), sc.tone((60, 80, 120)))
    sc.fill(f.polygon([(0.03, 0.015), (-0.05, 0.015), (-0.14, 0.14), (-0.1, 0.14)]), shade(livery, 0.9))
    sc.fill(f.polygon([(-0.22, 0.0), (-0.26, 0.0), (-0.3, 0.045), (-0.27, 0.045)]), shade(livery, 0.9))


def draw_train(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    paint = sc.main(((40, 120, 80), (190, 50, 50), (40, 70, 140))[int(rng.integers(3))])
    sc.fill(f.rect(0, -0.005, 0.56, 0.012), sc.tone((90, 80, 70)))
    for x, y, r in ((0.15, -0.32, 0.03), (0.11, -0.37, 0.04), (0.04, -0.41, 0.05)):
        sc.fill(f.circle(x, y, r), sc.pal.card, 0.7)
    sc.fill(f.rect(0.15, -0.23, 0.045, 0.08, 0.008), shade(paint, 0.6))
    sc.fill(f.rect(0.15, -0.275, 0.065, 0.02, 0.006), shade(paint, 0.6))
    boiler = f.rect(0.05, -0.14, 0.26, 0.11, 0.03)
    sc.shadow(boiler, k)
    sc.fill(boiler, paint)
    sc.fill(f.rect(-0.14, -0.17, 0.14, 0.18, 0.01), shade(paint, 0.85))
    sc.fill(f.rect(-0.14, -0.265, 0.17, 0.025, 0.008), shade(paint, 0.6))
    _w = sc.tone(LIGHT) if sc.night else sc.tone(GLASS)
    sc.fill(f.rect(-0.14, -0.2, 0.07, 0.05, 0.006), _w)
    sc.fill(f.polygon([(0.18, -0.09), (0.26, -0.015), (0.18, -0.015)]), sc.tone((70, 70, 80)))
    for x, r in ((-0.16, 0.04), (-0.07, 0.04), (0.04, 0.035), (0.12, 0.035)):
        wheel(sc, f, x, -0.045, r)
    sc.fill(f.segment(-0.16, -0.045, 0.12, -0.045, 0.006), sc.tone(HUB))


def draw_balloon(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy - 0.02 * k, k)
    a, b = sc.main(sc.pal.accent), sc.pal.accent3 if sc.own is None else shade(sc.own, 1.45)
    rope = sc.tone((110, 80, 56))
    for x0, x1 in ((-0.07, -0.04), (0.07, 0.04)):
        sc.fill(f.segment(x0, 0.09, x1, 0.19, 0.003), rope)
    sc.fill(f.rect(0, 0.215, 0.09, 0.055, 0.01), sc.tone((170, 120, 70)))
    env = union(f.circle(0, -0.08, 0.175), f.polygon([(-0.155, -0.02), (0.155, -0.02), (0.06, 0.1), (-0.06, 0.1)]))
    sc.shadow(env, k)
    sc.fill(env, a)
    for x in (-0.1, 0.0, 0.1):
        sc.fill(intersect(env, f.ellipse(x * 1.0, -0.03, 0.03 if x else 0.045, 0.2)), b)
    sc.fill(f.rect(0, 0.1, 0.12, 0.02, 0.008), shade(a, 0.7))


SUBJECTS = {"car": draw_car, "bus": draw_bus, "bicycle": draw_bicycle, "rocket": draw_rocket, "sailboat": draw_sailboat,
            "plane": draw_plane, "train": draw_train, "balloon": draw_balloon}
GROUNDED = {"car", "bus", "bicycle", "sailboat", "train"}
