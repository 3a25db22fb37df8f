"""Everyday objects: book, lamp, clock, camera, key, umbrella, guitar, headphones, gift, sofa, chair,
table, light bulb, trophy, crown, pencil.

Each `draw_*` paints one object at scale k: grounded ones (`GROUNDED`: furniture, the lamp) stand on
the ground at (cx, base), the others are centred on (cx, cy). The seats' heights are in subjects.py.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import cut, intersect, union

INK, WHITE, GOLD, WOOD = (44, 42, 52), (250, 250, 248), (240, 188, 52), (176, 116, 64)
LIGHT, GREY = (255, 224, 110), (150, 150, 162)


def draw_book(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    cover, paper = sc.main(sc.pal.accent), sc.tone(WHITE)
    sc.fill(f.polygon([(-0.27, -0.11), (0, -0.08), (0.27, -0.11), (0.27, 0.16), (0, 0.18), (-0.27, 0.16)]), cover)
    for side in (-1, 1):
        page = f.polygon([(0, -0.1), (side * 0.25, -0.13), (side * 0.25, 0.13), (0, 0.155)])
        sc.fill(page, shade(paper, 0.93) if side > 0 else paper)
        for i in range(6 if sc.q else 4):
            y = -0.07 + i * 0.035
            x0, x1 = side * 0.035, side * (0.21 if i % 3 != 2 else 0.14)
            sc.fill(f.segment(x0, y - side * 0.0 + abs(x0) * 0.1, x1, y - abs(x1) * 0.1, 0.004), sc.tone(GREY), 0.7)
    sc.fill(f.segment(0, -0.09, 0, 0.16, 0.005), shade(cover, 0.7))


def draw_lamp(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    shade_c = sc.main(sc.pal.accent)
    if sc.q:
        sc.fill(f.polygon([(-0.11, -0.36), (0.11, -0.36), (0.2, -0.1), (-0.2, -0.1)]), sc.tone(LIGHT), 0.2)
    sc.fill(f.ellipse(0, -0.01, 0.09, 0.02), sc.tone(INK))
    sc.fill(f.segment(0, -0.02, 0, -0.36, 0.008), sc.tone(INK))
    sc.fill(f.circle(0, -0.35, 0.03), sc.tone(LIGHT))
    lampshade = f.polygon([(-0.07, -0.5), (0.07, -0.5), (0.12, -0.36), (-0.12, -0.36)])
    sc.shadow(lampshade, k)
    sc.fill(lampshade, shade_c)
    sc.fill(f.polygon([(0.02, -0.5), (0.07, -0.5), (0.12, -0.36), (0.05, -0.36)]), shade(shade_c, 0.85))


def draw_clock(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    rim = sc.main(sc.pal.accent)
    for side in (-1, 1):
        sc.fill(f.circle(side * 0.12, -0.15, 0.055), rim)
        sc.fill(f.segment(side * 0.1, 0.13, side * 0.14, 0.2, 0.012), rim)
    face = f.circle(0, 0, 0.18)
    sc.shadow(face, k)
    sc.fill(face, rim)
    sc.fill(f.circle(0, 0, 0.15), sc.tone(WHITE))
    for i in range(12):
        a = math.tau * i / 12
        r0 = 0.115 if i % 3 else 0.1
        sc.fill(f.segment(r0 * math.cos(a), r0 * math.sin(a), 0.13 * math.cos(a), 0.13 * math.sin(a), 0.006), sc.tone(INK))
    hour, minute = float(rng.uniform(0, math.tau)), float(rng.uniform(0, math.tau))
    sc.fill(f.segment(0, 0, 0.065 * math.sin(hour), -0.065 * math.cos(hour), 0.011), sc.tone(INK))
    sc.fill(f.segment(0, 0, 0.1 * math.sin(minute), -0.1 * math.cos(minute), 0.007), sc.tone(INK))
    sc.fill(f.circle(0, 0, 0.016), sc.pal.accent2)


def draw_camera(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    body_c = sc.main((58, 60, 72))
    sc.fill(f.rect(-0.06, -0.11, 0.13, 0.07, 0.015), shade(body_c, 0.8))
    sc.fill(f.rect(0.12, -0.105, 0.05, 0.03, 0.008), sc.pal.accent2)
    body = f.rect(0, 0.02, 0.38, 0.24, 0.035)
    sc.shadow(body, k)
    sc.fill(body, body_c)
    sc.fill(f.rect(0, 0.02, 0.38, 0.05), shade(body_c, 1.25))
    sc.fill(f.circle(0, 0.025, 0.095), sc.tone(GREY))
    sc.fill(f.circle(0, 0.025, 0.075), sc.tone((30, 34, 50)))
    sc.fill(f.circle(0, 0.025, 0.045), sc.tone((50, 80, 130)))
    sc.fill(f.circle(-0.02, 0.0, 0.015), sc.tone(WHITE), 0.8)
    sc.fill(f.rect(0.13, -0.05, 0.05, 0.03, 0.006), sc.tone(LIGHT))


def draw_key(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.7, -0.3)))
    metal = sc.main(GOLD)
    sc.fill(cut(f.circle(-0.15, 0, 0.085), f.circle(-0.15, 0, 0.035)), metal)
    sc.fill(f.rect(0.04, 0, 0.3, 0.04, 0.01), metal)
    sc.fill(f.rect(0.16, 0.04, 0.03, 0.05, 0.004), metal)
    sc.fill(f.rect(0.1, 0.035, 0.03, 0.04, 0.004), metal)
    if sc.q:
        sc.fill(f.arc(-0.15, 0, 0.06, 3.6, 5.0, 0.007), shade(metal, 1.35))


def draw_umbrella(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.25, 0.25)))
    a = sc.main(sc.pal.accent)
    b = shade(a, 0.8)
    sc.fill(f.segment(0, -0.05, 0, 0.19, 0.009), sc.tone(INK))
    sc.fill(f.arc(0.035, 0.19, 0.035, 0, math.pi, 0.009), sc.tone(INK))
    dome = f.clip(f.circle(0, -0.03, 0.25), 0, -0.03, 0, -1)
    for x in (-0.1875, -0.0625, 0.0625, 0.1875):
        dome = cut(dome, f.circle(x, -0.03, 0.0625))
    sc.shadow(dome, k)
    sc.fill(dome, a)
    for x in (-0.125, 0.125):
        sc.fill(intersect(dome, f.polygon([(0, -0.3), (x - 0.0625, 0.0), (x + 0.0625, 0.0)])), b)
    sc.fill(f.segment(0, -0.28, 0, -0.32, 0.008), sc.tone(INK))


def draw_guitar(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5, float(rng.uniform(0.4, 0.7)))
    wood = sc.main(WOOD)
    dark = sc.tone((80, 50, 34))
    sc.fill(f.rect(0, -0.29, 0.06, 0.07, 0.01), dark)
    sc.fill(f.rect(0, -0.15, 0.04, 0.26), dark)
    body = union(f.circle(0, 0.1, 0.12), f.circle(0, -0.02, 0.09))
    sc.shadow(body, k)
    sc.fill(body, wood)
    sc.fill(f.circle(0, 0.02, 0.035), dark)
    sc.fill(f.rect(0, 0.15, 0.08, 0.018, 0.006), dark)
    for x in (-0.012, 0.0, 0.012):
        sc.fill(f.segment(x, -0.3, x, 0.15, 0.0018), sc.tone((230, 230, 230)))


def draw_headphones(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    colour = sc.main(sc.pal.accent)
    sc.fill(f.arc(0, 0.02, 0.17, math.pi, math.tau, 0.022), sc.tone(INK))
    for side in (-1, 1):
        sc.fill(f.rect(side * 0.17, 0.04, 0.035, 0.1, 0.012), sc.tone(INK))
        cup = f.rect(side * 0.19, 0.06, 0.075, 0.16, 0.035)
        sc.shadow(cup, k)
        sc.fill(cup, colour)
        sc.fill(f.rect(side * 0.205, 0.06, 0.03, 0.11, 0.015), shade(colour, 0.75))


def draw_gift(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    box, ribbon = sc.main(sc.pal.accent), sc.pal.accent3 if sc.own is None else shade(sc.own, 1.5)
    body = f.rect(0, 0.06, 0.3, 0.22, 0.01)
    sc.shadow(body, k)
    sc.fill(body, box)
    sc.fill(f.rect(0, -0.075, 0.34, 0.07, 0.01), shade(box, 0.85))
    sc.fill(f.rect(0, 0.02, 0.05, 0.3), ribbon)
    for side in (-1, 1):
        sc.fill(cut(f.ellipse(side * 0.055, -0.14, 0.06, 0.035, side * 0.45), f.ellipse(side * 0.055, -0.14, 0.03, 0.012, side * 0.45)), ribbon)
    sc.fill(f.circle(0, -0.12, 0.022), shade(ribbon, 0.85))


def draw_sofa(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    fabric = sc.main(((70, 130, 170), (190, 90, 70), (120, 150, 100), (150, 110, 170))[int(rng.integers(4))])
    for x in (-0.21, 0.21):
        sc.fill(f.rect(x, -0.015, 0.025, 0.03, 0.005), sc.tone((80, 56, 40)))
    back = f.rect(0, -0.2, 0.44, 0.16, 0.04)
    sc.shadow(back, k)
    sc.fill(back, shade(fabric, 0.85))
    sc.fill(f.rect(0, -0.085, 0.5, 0.1, 0.025), fabric)
    for x in (-0.105, 0.105):
        sc.fill(f.rect(x, -0.135, 0.2, 0.045, 0.02), shade(fabric, 1.15))
    for x in (-0.235, 0.235):
        sc.fill(f.rect(x, -0.14, 0.07, 0.17, 0.03), shade(fabric, 0.92))


def draw_chair(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    wood = sc.main(WOOD)
    dark = shade(wood, 0.72)
    for x in (-0.085, 0.085):
        sc.fill(f.rect(x, -0.12, 0.022, 0.18), dark)
    for x in (-0.095, 0.095):
        sc.fill(f.rect(x, -0.32, 0.026, 0.24, 0.008), wood)
    sc.fill(f.rect(0, -0.42, 0.22, 0.05, 0.012), wood)
    for x in (-0.035, 0.035):
        sc.fill(f.rect(x, -0.32, 0.02, 0.16), shade(wood, 0.9))
    sc.fill(f.polygon([(-0.11, -0.22), (0.11, -0.22), (0.14, -0.18), (-0.14, -0.18)]), shade(wood, 1.15))
    sc.fill(f.rect(0, -0.17, 0.28, 0.025, 0.006), dark)
    for x in (-0.125, 0.125):
        sc.fill(f.rect(x, -0.08, 0.026, 0.16), wood)


def draw_table(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    wood = sc.main(WOOD)
    for x in (-0.2, 0.2):
        sc.fill(f.rect(x, -0.115, 0.03, 0.23), shade(wood, 0.78))
    sc.fill(f.rect(0, -0.205, 0.44, 0.03), shade(wood, 0.7))
    top = f.rect(0, -0.232, 0.52, 0.03, 0.008)
    sc.shadow(top, k)
    sc.fill(top, wood)


def draw_lightbulb(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    glow = sc.main(LIGHT)
    for i in range(7 if sc.q else 0):
        a = math.pi + math.pi * (i + 0.5) / 7
        sc.fill(f.segment(0.18 * math.cos(a), -0.05 + 0.18 * math.sin(a), 0.23 * math.cos(a), -0.05 + 0.23 * math.sin(a),
                          0.01), glow)
    bulb = union(f.circle(0, -0.05, 0.13), f.polygon([(-0.095, 0.03), (0.095, 0.03), (0.055, 0.12), (-0.055, 0.12)]))
    sc.shadow(bulb, k)
    sc.fill(bulb, glow)
    sc.fill(f.polyline([(-0.035, 0.1), (-0.035, 0.0), (-0.015, -0.03), (0.0, 0.0), (0.015, -0.03), (0.035, 0.0),
                        (0.035, 0.1)], 0.006), sc.tone((210, 120, 40)))
    for i, y in enumerate((0.135, 0.165, 0.195)):
        sc.fill(f.rect(0, y, 0.11 - 0.012 * i, 0.026, 0.01), sc.tone(GREY if i % 2 == 0 else (120, 120, 132)))
    sc.fill(f.ellipse(-0.06, -0.09, 0.02, 0.04, 0.4), sc.tone(WHITE), 0.7)


def draw_trophy(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    gold = sc.main(GOLD)
    for side in (-1, 1):
        sc.fill(f.arc(side * 0.12, -0.1, 0.05, -math.pi / 2 if side > 0 else math.pi / 2,
                      math.pi / 2 if side > 0 else 3 * math.pi / 2, 0.014), shade(gold, 0.85))
    cup = f.clip(f.ellipse(0, -0.17, 0.13, 0.19), 0, -0.17, 0, 1)
    sc.shadow(cup, k)
    sc.fill(cup, gold)
    sc.fill(f.rect(0, -0.17, 0.27, 0.02, 0.01), shade(gold, 1.2))
    sc.fill(f.rect(0, 0.06, 0.04, 0.08), shade(gold, 0.85))
    sc.fill(f.rect(0, 0.11, 0.14, 0.03, 0.01), gold)
    sc.fill(f.rect(0, 0.15, 0.2, 0.05, 0.008), sc.tone((70, 56, 50)))
    sc.fill(f.star(0, -0.07, 0.045, 0.45), shade(gold, 1.3))


def draw_crown(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    gold = sc.main(GOLD)
    tips = [(-0.2, -0.12), (-0.1, -0.03), (0, -0.17), (0.1, -0.03), (0.2, -0.12)]
    crown = f.outline([(-0.17, 0.08), (*tips[0],), *tips[1:], (0.17, 0.08)])
    sc.shadow(crown, k)
    sc.fill(crown, gold)
    sc.fill(f.rect(0, 0.065, 0.35, 0.05, 0.01), shade(gold, 0.85))
    for x, y in tips[::2]:
        sc.fill(f.circle(x, y - 0.01, 0.018), gold)
    for x, colour in ((-0.1, (210, 50, 60)), (0, (60, 110, 210)), (0.1, (210, 50, 60))):
        sc.fill(f.circle(x, 0.065, 0.016), sc.tone(colour))


def draw_pencil(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.8, -0.5)))
    paint = sc.main((246, 196, 50))
    sc.fill(f.polygon([(0.17, -0.035), (0.17, 0.035), (0.26, 0.0)]), sc.tone((236, 200, 150)))
    sc.fill(f.polygon([(0.235, -0.01), (0.235, 0.01), (0.26, 0.0)]), sc.tone(INK))
    body = f.rect(-0.02, 0, 0.38, 0.07)
    sc.shadow(body, k)
    sc.fill(body, paint)
    sc.fill(f.rect(-0.02, 0.012, 0.38, 0.016), shade(paint, 0.85))
    sc.fill(f.rect(-0.225, 0, 0.04, 0.072), sc.tone(GREY))
    sc.fill(f.rect(-0.265, 0, 0.05, 0.07, 0.02), sc.tone((240, 140, 150)))


SUBJECTS = {"book": draw_book, "lamp": draw_lamp, "clock": draw_clock, "camera": draw_camera, "key": draw_key,
            "umbrella": draw_umbrella, "guitar": draw_guitar, "headphones": draw_headphones, "gift": draw_gift,
            "sofa": draw_sofa, "chair": draw_chair, "table": draw_table, "lightbulb": draw_lightbulb,
            "trophy": draw_trophy, "crown": draw_crown, "pencil": draw_pencil}
GROUNDED = {"lamp", "sofa", "chair", "table"}
