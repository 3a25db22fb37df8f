"""Animal subjects: cat, dog, bird, fish, horse, rabbit, butterfly, owl, penguin, turtle.

Each `draw_*` paints one animal at scale k, facing left or right by the seed: grounded ones
(`GROUNDED`) stand on the ground at (cx, base), the others are centred on (cx, cy).
"""

from __future__ import annotations

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import cut, intersect, union

INK, WHITE, PINK, ORANGE = (40, 36, 44), (250, 250, 250), (238, 140, 150), (240, 140, 40)
FUR = {"cat": ((232, 142, 62), (128, 128, 140), (62, 60, 70), (238, 218, 186)),
       "dog": ((176, 112, 62), (214, 170, 92), (96, 72, 56), (236, 228, 216))}


def _eye(sc: Scene, f: Frame, x: float, y: float, r: float) -> None:
    sc.fill(f.circle(x, y, r), sc.tone(INK))
    if sc.q:
        sc.fill(f.circle(x + r * 0.35, y - r * 0.35, r * 0.35), sc.tone(WHITE))


def draw_cat(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    fur = sc.main(FUR["cat"][int(rng.integers(4))])
    dark = shade(fur, 0.8)
    sc.fill(f.curve((0.08, -0.03), (0.26, -0.02), (0.22, -0.2), 0.022), dark)
    body = f.ellipse(0, -0.13, 0.115, 0.13)
    sc.shadow(body, k, 0.15)
    sc.fill(body, fur)
    sc.fill(f.ellipse(0, -0.1, 0.06, 0.09), shade(fur, 1.3))
    for x in (-0.05, 0.05):
        sc.fill(f.ellipse(x, -0.012, 0.04, 0.022), shade(fur, 1.12))
    for side in (-1, 1):
        sc.fill(f.polygon([(side * 0.095, -0.33), (side * 0.075, -0.45), (side * 0.015, -0.385)]), fur)
        if sc.q:
            sc.fill(f.polygon([(side * 0.08, -0.35), (side * 0.072, -0.42), (side * 0.035, -0.385)]), sc.tone(PINK))
    sc.fill(f.ellipse(0, -0.32, 0.1, 0.085), fur)
    for x in (-0.038, 0.038):
        sc.fill(f.ellipse(x, -0.33, 0.014, 0.02), sc.tone(INK))
    sc.fill(f.polygon([(-0.014, -0.3), (0.014, -0.3), (0, -0.285)]), sc.tone(PINK))
    if sc.q:
        for side in (-1, 1):
            for dy in (-0.008, 0.01):
                sc.fill(f.segment(side * 0.03, -0.288, side * 0.14, -0.29 + dy * 2, 0.0025), shade(fur, 0.6))


def draw_dog(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    fur = sc.main(FUR["dog"][int(rng.integers(4))])
    dark = shade(fur, 0.72)
    sc.fill(f.curve((-0.15, -0.2), (-0.22, -0.24), (-0.22, -0.33), 0.018), fur)
    for x, far in ((-0.12, True), (0.1, True), (-0.08, False), (0.14, False)):
        sc.fill(f.rect(x, -0.08, 0.04, 0.16, 0.018), dark if far else fur)
    body = f.ellipse(0, -0.18, 0.17, 0.08)
    sc.shadow(body, k, 0.15)
    sc.fill(body, fur)
    sc.fill(f.segment(0.12, -0.2, 0.17, -0.28, 0.05), fur)
    sc.fill(f.circle(0.18, -0.31, 0.07), fur)
    sc.fill(f.ellipse(0.25, -0.29, 0.055, 0.036), shade(fur, 1.15))
    sc.fill(f.circle(0.3, -0.305, 0.017), sc.tone(INK))
    sc.fill(f.ellipse(0.135, -0.3, 0.028, 0.065, -0.25), dark)
    _eye(sc, f, 0.2, -0.33, 0.012)
    if sc.q:
        sc.fill(f.segment(0.135, -0.24, 0.2, -0.255, 0.012), sc.main((210, 60, 60)) if sc.own is None else shade(fur, 0.5))


def draw_bird(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    plume = sc.main(((70, 130, 205), (214, 72, 60), (246, 196, 50), (80, 170, 110))[int(rng.integers(4))])
    sc.fill(f.segment(-0.01, -0.08, -0.01, 0, 0.007), sc.tone(ORANGE))
    sc.fill(f.segment(0.03, -0.08, 0.04, 0, 0.007), sc.tone(ORANGE))
    sc.fill(f.polygon([(-0.08, -0.16), (-0.25, -0.24), (-0.22, -0.12)]), shade(plume, 0.8))
    body = f.ellipse(0, -0.17, 0.125, 0.095, -0.25)
    sc.shadow(body, k, 0.15)
    sc.fill(body, plume)
    sc.fill(intersect(body, f.circle(0.05, -0.12, 0.08)), shade(plume, 1.4))
    sc.fill(f.circle(0.09, -0.27, 0.07), plume)
    sc.fill(f.polygon([(0.15, -0.295), (0.22, -0.27), (0.15, -0.25)]), sc.tone(ORANGE))
    sc.fill(f.ellipse(-0.03, -0.18, 0.08, 0.045, 0.35), shade(plume, 0.75))
    _eye(sc, f, 0.11, -0.285, 0.013)


def draw_fish(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5)
    scales = sc.main(((244, 132, 40), (70, 150, 220), (240, 200, 60), (220, 80, 110))[int(rng.integers(4))])
    sc.fill(f.polygon([(-0.15, 0), (-0.3, -0.11), (-0.28, 0.11)]), shade(scales, 0.8))
    sc.fill(f.polygon([(-0.06, -0.09), (0.06, -0.1), (-0.1, -0.17)]), shade(scales, 0.8))
    body = f.ellipse(0, 0, 0.2, 0.11)
    sc.shadow(body, k, 0.15)
    sc.fill(body, scales)
    for x in (-0.07, 0.07):
        sc.fill(intersect(body, f.rect(x, 0, 0.035, 0.3, 0.0, 0.1)), sc.tone(WHITE), 0.9)
    sc.fill(f.ellipse(0.0, 0.06, 0.05, 0.022, -0.4), shade(scales, 0.8))
    sc.fill(f.circle(0.12, -0.025, 0.03), sc.tone(WHITE))
    _eye(sc, f, 0.127, -0.025, 0.016)
    if sc.q:
        for i, (x, y, r) in enumerate(((0.26, -0.1, 0.02), (0.3, -0.18, 0.014), (0.27, -0.25, 0.01))):
            sc.fill(cut(f.circle(x, y, r), f.circle(x, y, r * 0.7)), sc.tone((120, 180, 230)))


def draw_horse(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    coat = sc.main(((150, 96, 56), (96, 66, 48), (226, 216, 200), (190, 140, 90))[int(rng.integers(4))])
    mane, dark = sc.tone((60, 40, 30)), shade(coat, 0.75)
    sc.fill(f.curve((-0.17, -0.28), (-0.25, -0.24), (-0.22, -0.1), 0.022), mane)
    for x, far in ((-0.165, True), (0.07, True), (-0.1, False), (0.14, False)):
        sc.fill(f.segment(x, -0.24, x + (0.015 if far else 0.0), -0.02, 0.015), dark if far else coat)
        sc.fill(f.rect(x + (0.015 if far else 0.0), -0.01, 0.036, 0.022, 0.006), mane)
    body = union(f.ellipse(0, -0.26, 0.17, 0.07), f.circle(0.12, -0.265, 0.065), f.circle(-0.12, -0.27, 0.062))
    sc.shadow(body, k, 0.15)
    sc.fill(body, coat)
    sc.fill(f.segment(0.13, -0.29, 0.2, -0.41, 0.045), coat)
    sc.fill(f.ellipse(0.25, -0.4, 0.08, 0.034, 0.6), coat)
    sc.fill(f.polygon([(0.18, -0.445), (0.185, -0.5), (0.21, -0.445)]), coat)
    sc.fill(f.curve((0.19, -0.455), (0.12, -0.41), (0.1, -0.3), 0.017), mane)
    sc.fill(f.circle(0.292, -0.35, 0.008), sc.tone(INK))
    _eye(sc, f, 0.225, -0.42, 0.011)


def draw_rabbit(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    fur = sc.main(((206, 186, 166), (238, 234, 228), (150, 130, 116))[int(rng.integers(3))])
    for x, angle in ((0.06, -0.25), (0.13, 0.2)):
        sc.fill(f.ellipse(x, -0.34, 0.026, 0.09, angle), fur)
        if sc.q:
            sc.fill(f.ellipse(x, -0.335, 0.012, 0.065, angle), sc.tone(PINK))
    body = f.ellipse(0, -0.1, 0.13, 0.1)
    sc.shadow(body, k, 0.15)
    sc.fill(body, fur)
    sc.fill(f.circle(-0.12, -0.11, 0.038), sc.tone(WHITE))
    sc.fill(f.circle(0.1, -0.22, 0.07), fur)
    sc.fill(f.ellipse(0.08, -0.012, 0.06, 0.02), shade(fur, 0.88))
    _eye(sc, f, 0.12, -0.235, 0.012)
    sc.fill(f.circle(0.165, -0.205, 0.01), sc.tone(PINK))


def draw_butterfly(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, angle=float(rng.uniform(-0.25, 0.25)))
    wing = sc.own or sc.pal.accent
    spot = sc.pal.accent3 if sc.own is None else shade(wing, 1.5)
    for side in (-1, 1):
        sc.fill(f.ellipse(side * 0.12, -0.07, 0.12, 0.085, side * 0.55), wing)
        sc.fill(f.ellipse(side * 0.085, 0.08, 0.075, 0.06, -side * 0.5), shade(wing, 0.82))
        sc.fill(f.circle(side * 0.15, -0.09, 0.035), spot)
        if sc.q:
            sc.fill(f.circle(side * 0.09, 0.085, 0.02), spot)
        sc.fill(f.curve((0, -0.1), (side * 0.02, -0.19), (side * 0.07, -0.22), 0.005), sc.tone(INK))
    sc.fill(f.ellipse(0, 0, 0.02, 0.12), sc.tone(INK))


def draw_owl(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k)
    feathers = sc.main(((140, 100, 70), (110, 110, 126), (176, 130, 86))[int(rng.integers(3))])
    for side in (-1, 1):
        sc.fill(f.polygon([(side * 0.12, -0.26), (side * 0.13, -0.36), (side * 0.05, -0.3)]), feathers)
    body = f.ellipse(0, -0.18, 0.13, 0.175)
    sc.shadow(body, k, 0.15)
    sc.fill(body, feathers)
    sc.fill(f.ellipse(0, -0.1, 0.085, 0.095), shade(feathers, 1.35))
    for side in (-1, 1):
        sc.fill(f.ellipse(side * 0.115, -0.14, 0.04, 0.09, side * 0.2), shade(feathers, 0.8))
        sc.fill(f.circle(side * 0.055, -0.24, 0.052), sc.tone(WHITE))
        sc.fill(f.circle(side * 0.055, -0.24, 0.028), sc.tone((246, 176, 40)))
        sc.fill(f.circle(side * 0.055, -0.24, 0.016), sc.tone(INK))
        sc.fill(f.ellipse(side * 0.04, -0.005, 0.025, 0.01), sc.tone(ORANGE))
    sc.fill(f.polygon([(-0.018, -0.205), (0.018, -0.205), (0, -0.17)]), sc.tone(ORANGE))
    if sc.q:
        for x, y in ((-0.03, -0.1), (0.03, -0.1), (0, -0.07), (-0.03, -0.04), (0.03, -0.04)):
            sc.fill(f.arc(x, y - 0.012, 0.014, 0.3, 2.84, 0.003), shade(feathers, 0.9))


def draw_penguin(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    coat = sc.main((40, 46, 64))
    for x in (-0.045, 0.045):
        sc.fill(f.ellipse(x, -0.008, 0.04, 0.014), sc.tone(ORANGE))
    for side in (-1, 1):
        sc.fill(f.ellipse(side * 0.115, -0.2, 0.03, 0.09, side * -0.35), shade(coat, 0.85))
    body = f.ellipse(0, -0.2, 0.12, 0.2)
    sc.shadow(body, k, 0.15)
    sc.fill(body, coat)
    sc.fill(f.ellipse(0, -0.16, 0.085, 0.15), sc.tone(WHITE))
    sc.fill(f.clip(f.ellipse(0, -0.3, 0.09, 0.085), 0, -0.27, 0, -1), coat)
    for x in (-0.035, 0.035):
        sc.fill(f.circle(x, -0.3, 0.018), sc.tone(WHITE))
        _eye(sc, f, x + 0.005, -0.3, 0.01)
    sc.fill(f.polygon([(-0.025, -0.27), (0.025, -0.27), (0, -0.235)]), sc.tone(ORANGE))


def draw_turtle(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    shell = sc.main((86, 150, 80))
    skin = sc.tone((150, 196, 110))
    sc.fill(f.ellipse(0.21, -0.08, 0.06, 0.042), skin)
    for x in (-0.12, 0.11):
        sc.fill(f.rect(x, -0.025, 0.05, 0.05, 0.02), skin)
    sc.fill(f.polygon([(-0.17, -0.05), (-0.24, -0.04), (-0.17, -0.03)]), skin)
    dome = f.clip(f.ellipse(0, -0.05, 0.18, 0.16), 0, -0.05, 0, -1)
    sc.shadow(dome, k, 0.15)
    sc.fill(dome, shell)
    sc.fill(f.rect(0, -0.05, 0.38, 0.03, 0.015), shade(shell, 0.75))
    plates = [(0, -0.14), (-0.09, -0.09), (0.09, -0.09)]
    for x, y in plates:
        sc.fill(f.polygon([(x - 0.035, y), (x - 0.018, y - 0.03), (x + 0.018, y - 0.03), (x + 0.035, y),
                           (x + 0.018, y + 0.03), (x - 0.018, y + 0.03)]), shade(shell, 1.25))
    _eye(sc, f, 0.235, -0.09, 0.01)


SUBJECTS = {"cat": draw_cat, "dog": draw_dog, "bird": draw_bird, "fish": draw_fish, "horse": draw_horse,
            "rabbit": draw_rabbit, "butterfly": draw_butterfly, "owl": draw_owl, "penguin": draw_penguin,
            "turtle": draw_turtle}
GROUNDED = {"cat", "dog", "bird", "horse", "rabbit", "owl", "penguin", "turtle"}
