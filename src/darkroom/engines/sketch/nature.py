"""Nature and weather subjects: trees, mountain, sun, moon, clouds, rain, lightning, snow, rainbow, plants, planet.

Each `draw_*` paints one subject at scale k: grounded ones (`GROUNDED`) stand on the ground at
(cx, base), the others are centred on (cx, cy). See scene.py for `Frame` and the colours.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import Shape, circle, cut, intersect, polygon, rect, union

GREEN, LEAF, BARK = (84, 160, 84), (70, 150, 80), (120, 80, 50)
WHITE, CLOUD_GREY = (248, 250, 253), (158, 168, 184)
RAINBOW = ((230, 70, 70), (245, 150, 50), (245, 215, 60), (90, 180, 90), (70, 140, 220), (130, 90, 200))


def tree(sc: Scene, x: float, base: float, h: float, pine: bool, colour) -> None:
    c = sc.canvas
    c.fill(rect(x, base - h * 0.25, 0.08 * h, h * 0.5), sc.pal.ink)
    if pine:
        for j in range(3):
            y, w = base - h + h * 0.22 * j, h * (0.16 + 0.05 * j)
            c.fill(polygon([(x, y), (x + w, y + h * 0.32), (x - w, y + h * 0.32)]), colour)
        return
    crown = circle(x, base - h * 0.7, h * 0.3)
    c.fill(crown, colour)
    if sc.q == 2:
        c.fill(cut(crown, circle(x + h * 0.08, base - h * 0.63, h * 0.3)), sc.pal.accent3, 0.3)


def draw_trees(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    specs = rng.uniform([-0.2, 0.24, 0], [0.2, 0.42, 1], (3, 3))
    for du, h, kind in sorted(specs.tolist(), key=lambda s: -s[1]):
        if sc.q:
            ground = rect(cx + du * k, base, 0.1 * k, 0.016 * k, 0.008 * k)
            sc.canvas.fill(ground, sc.pal.shadow, 0.2)
        tree(sc, cx + du * k, base, h * k, kind < 0.5, sc.own or sc.pal.foliage)


def draw_mountain(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f, rock = Frame(cx, base, k, rng.random() < 0.5), sc.main((112, 124, 158))
    back = [(-0.033, 0), (0.328, 0), (0.164, -0.3)]
    sc.fill(f.polygon(back), shade(rock, 1.25))
    sc.fill(f.polygon([(0.164, -0.3), (0.221, -0.2), (0.172, -0.215), (0.131, -0.19), (0.107, -0.2)]), sc.tone(WHITE))
    peak = [(-0.279, 0), (0.246, 0), (0, -0.46)]
    sc.fill(f.polygon(peak), rock)
    sc.fill(f.polygon([(0, -0.46), (0.246, 0), (0.033, 0)]), shade(rock, 0.82))
    cap = [(0, -0.46), (0.078, -0.315), (0.041, -0.33), (0.012, -0.3), (-0.025, -0.335), (-0.061, -0.345),
           (-0.082, -0.31)]
    sc.fill(f.outline(cap), sc.tone(WHITE))
    if sc.q:
        sc.fill(f.polygon([(0, -0.46), (0.078, -0.315), (0.041, -0.33), (0.012, -0.3)]), sc.tone((214, 224, 240)))


def draw_sun(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, gold = Frame(cx, cy, k, angle=float(rng.uniform(0, 0.5))), sc.main((250, 196, 46))
    if sc.q:
        sc.fill(f.circle(0, 0, 0.2), gold, 0.25)
    for i in range(12):
        a = math.tau * i / 12
        r0, r1 = 0.17, 0.235 if i % 2 == 0 else 0.215
        sc.fill(f.segment(r0 * math.cos(a), r0 * math.sin(a), r1 * math.cos(a), r1 * math.sin(a), 0.016), gold)
    sc.fill(f.circle(0, 0, 0.14), gold)
    sc.fill(f.circle(0, 0, 0.105), shade(gold, 1.25))


def draw_moon(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, pale = Frame(cx, cy, k, rng.random() < 0.5), sc.main((246, 232, 170))
    disc, bite = f.circle(0, 0, 0.18), f.circle(0.09, -0.06, 0.16)
    if sc.q:
        sc.fill(f.circle(0, 0, 0.23), pale, 0.15)
    sc.fill(cut(disc, bite), pale)
    for x, y, r in ((-0.1, 0.02, 0.025), (-0.04, 0.12, 0.018), (-0.12, -0.07, 0.014)):
        sc.fill(f.circle(x, y, r), shade(pale, 0.8))
    for x, y, r in ((0.14, 0.1, 0.03), (0.2, -0.12, 0.022), (0.06, 0.2, 0.018)):
        sc.fill(f.star(x, y, r, 0.42), pale)


def cloud_shape(f: Frame, x: float, y: float, s: float) -> Shape:
    return union(f.circle(x - 0.1 * s, y + 0.02 * s, 0.075 * s), f.circle(x, y - 0.035 * s, 0.105 * s),
                 f.circle(x + 0.105 * s, y + 0.005 * s, 0.08 * s), f.rect(x, y + 0.05 * s, 0.33 * s, 0.08 * s, 0.04 * s))


def _cloud(sc: Scene, f: Frame, x: float, y: float, s: float, colour) -> None:
    sc.fill(cloud_shape(f, x, y, s), shade(colour, 0.86))
    sc.fill(cloud_shape(f, x - 0.008 * s, y - 0.014 * s, s * 0.96), colour)


def draw_cloud(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, colour = Frame(cx, cy, k, rng.random() < 0.5), sc.main(WHITE)
    _cloud(sc, f, 0.1, 0.06, 0.7, shade(colour, 0.94))
    _cloud(sc, f, -0.04, -0.02, 1.0, colour)


def draw_rain(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, drop = Frame(cx, cy, k), sc.main((70, 140, 225))
    for i, x in enumerate((-0.12, -0.04, 0.04, 0.12)):
        for j in range(2):
            y = 0.1 + 0.1 * j + 0.045 * (i % 2)
            sc.fill(union(f.circle(x, y, 0.018), f.polygon([(x - 0.017, y - 0.006), (x + 0.017, y - 0.006),
                                                            (x + 0.006, y - 0.045)])), drop)
    _cloud(sc, f, 0, -0.08, 1.0, sc.tone(CLOUD_GREY))


def draw_lightning(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k, rng.random() < 0.5)
    bolt = [(0.02, -0.06), (0.09, -0.06), (0.04, 0.05), (0.08, 0.05), (-0.04, 0.24), (0.0, 0.09), (-0.04, 0.09)]
    sc.fill(f.outline(bolt), sc.main((252, 206, 40)))
    _cloud(sc, f, 0, -0.1, 1.0, sc.tone((98, 104, 122)))


def draw_snowflake(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, ice = Frame(cx, cy, k, angle=float(rng.uniform(0, math.pi / 3))), sc.main((92, 160, 224))
    for i in range(6):
        a = math.tau * i / 6
        ca, sa = math.cos(a), math.sin(a)
        sc.fill(f.segment(0, 0, 0.2 * ca, 0.2 * sa, 0.014), ice)
        for t, b in ((0.11, 0.06), (0.16, 0.04)):
            for side in (-1, 1):
                a2 = a + side * 0.8
                x, y = t * ca, t * sa
                sc.fill(f.segment(x, y, x + b * math.cos(a2), y + b * math.sin(a2), 0.011), ice)
    sc.fill(f.circle(0, 0, 0.03), ice)


def draw_snowman(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f, snow = Frame(cx, base, k, rng.random() < 0.5), sc.tone(WHITE)
    blue = sc.tone((200, 216, 236))
    sc.fill(f.segment(-0.08, -0.27, -0.2, -0.34, 0.008), sc.tone(BARK))
    sc.fill(f.segment(0.08, -0.27, 0.2, -0.32, 0.008), sc.tone(BARK))
    for y, r in ((-0.1, 0.11), (-0.27, 0.08), (-0.4, 0.06)):
        sc.fill(f.circle(0, y, r), blue)
        sc.fill(f.circle(-0.012, y - 0.008, r * 0.93), snow)
    sc.fill(f.rect(0, -0.475, 0.13, 0.018, 0.006), sc.tone((40, 40, 48)))
    sc.fill(f.rect(0, -0.51, 0.08, 0.07, 0.008), sc.tone((40, 40, 48)))
    sc.fill(f.rect(0, -0.335, 0.13, 0.03, 0.015), sc.main((210, 60, 60)))
    sc.fill(f.rect(0.04, -0.3, 0.03, 0.08, 0.012, 0.2), sc.main((210, 60, 60)))
    sc.fill(f.polygon([(0, -0.41), (0, -0.39), (0.07, -0.4)]), sc.tone((240, 130, 40)))
    for x, y in ((-0.02, -0.42), (0.02, -0.42), (0, -0.28), (0, -0.24), (0, -0.14)):
        sc.fill(f.circle(x, y, 0.008), sc.tone((40, 40, 48)))


def draw_rainbow(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f = Frame(cx, cy, k)
    for i, colour in enumerate(RAINBOW):
        sc.fill(f.arc(0, 0.12, 0.3 - 0.026 * i, math.pi, math.tau, 0.014), sc.tone(colour))
    for x in (-0.24, 0.24):
        _cloud(sc, f, x, 0.1, 0.5, sc.tone(WHITE))


def draw_flower(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f = Frame(cx, base, k, rng.random() < 0.5)
    petal = sc.main(((236, 84, 120), (240, 150, 40), (170, 100, 220), (230, 60, 60))[int(rng.integers(4))])
    sc.fill(f.curve((0, 0), (0.04, -0.15), (0, -0.3), 0.012), sc.tone(GREEN))
    sc.fill(f.ellipse(0.05, -0.12, 0.055, 0.022, -0.5), sc.tone(GREEN))
    sc.fill(f.ellipse(-0.04, -0.2, 0.045, 0.018, 0.6), sc.tone(GREEN))
    n, turn = 8, float(rng.uniform(0, 0.4))
    for i in range(n):
        a = math.tau * i / n + turn
        sc.fill(f.ellipse(0.062 * math.cos(a), -0.32 + 0.062 * math.sin(a), 0.055, 0.028, a), petal)
    sc.fill(f.circle(0, -0.32, 0.04), sc.tone((250, 200, 60)))
    if sc.q:
        sc.fill(f.circle(0.008, -0.312, 0.025), sc.tone((220, 150, 40)))


def draw_cactus(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f, green = Frame(cx, base, k, rng.random() < 0.5), sc.main((78, 160, 96))
    dark = shade(green, 0.8)
    sc.fill(f.rect(-0.1, -0.23, 0.06, 0.16, 0.03), green)
    sc.fill(f.rect(-0.07, -0.16, 0.08, 0.05, 0.025), green)
    sc.fill(f.rect(0.1, -0.28, 0.06, 0.14, 0.03), green)
    sc.fill(f.rect(0.07, -0.22, 0.08, 0.05, 0.025), green)
    sc.fill(f.rect(0, -0.2, 0.1, 0.4, 0.05), green)
    if sc.q:
        for x in (-0.02, 0.02):
            sc.fill(f.segment(x, -0.36, x, -0.03, 0.004), dark)
    sc.fill(f.circle(0, -0.4, 0.025), sc.tone((240, 100, 150)))
    sc.fill(f.rect(0, -0.02, 0.2, 0.04, 0.02), sc.tone((200, 110, 70)))


def draw_palm(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f, leaf = Frame(cx, base, k, rng.random() < 0.5), sc.main((60, 160, 80))
    top = (0.07, -0.4)
    sc.fill(f.curve((0, 0), (0.01, -0.22), top, 0.022), sc.tone((150, 100, 60)))
    if sc.q:
        for t in (0.2, 0.4, 0.6, 0.8):
            y = -0.4 * t
            sc.fill(f.segment(0.07 * t * t - 0.02, y, 0.07 * t * t + 0.02, y - 0.005, 0.004), sc.tone((110, 70, 40)))
    for dx, dy, droop in ((0.22, -0.02, 0.1), (0.16, -0.1, 0.02), (-0.2, -0.02, 0.1), (-0.14, -0.1, 0.0), (0.02, -0.12, 0)):
        end = (top[0] + dx, top[1] + droop + 0.04)
        mid = (top[0] + dx * 0.5, top[1] + dy)
        sc.fill(f.curve(top, mid, end, 0.026), leaf)
        sc.fill(f.curve(top, mid, end, 0.008), shade(leaf, 0.75))
    for dx in (-0.02, 0.02):
        sc.fill(f.circle(top[0] + dx, top[1] + 0.03, 0.02), sc.tone((110, 70, 40)))


def _arc_points(x: float, y: float, r: float, start: float, end: float, n: int = 14):
    return [(x + r * math.cos(start + (end - start) * i / n), y + r * math.sin(start + (end - start) * i / n))
            for i in range(n + 1)]


def draw_wave(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    """A curling wave rising from the ground line: the crest over the top, the hollow under it, foam on the lip."""
    f, blue = Frame(cx, base - 0.18 * k, k, rng.random() < 0.5), sc.main((38, 120, 200))
    light, foam = shade(blue, 1.4), sc.tone(WHITE)
    deg = math.pi / 180
    (x0, y0), (x1, y1), (qx, qy) = (-0.32, 0.12), _arc_points(0, -0.03, 0.19, 200 * deg, 200 * deg, 1)[0], (-0.2, 0.08)
    back = [((1 - t) ** 2 * x0 + 2 * t * (1 - t) * qx + t * t * x1, (1 - t) ** 2 * y0 + 2 * t * (1 - t) * qy + t * t * y1)
            for t in (i / 8 for i in range(8))]
    outer = _arc_points(0, -0.03, 0.19, 200 * deg, 392 * deg)
    inner = _arc_points(0.065, -0.03, 0.1, 45 * deg, -210 * deg)
    body = f.outline([*back, *outer, *inner, (0.1, 0.12), (0.3, 0.12), (0.3, 0.17), (-0.32, 0.17)])
    sc.shadow(body, k)
    sc.fill(body, blue)
    sc.fill(f.polyline(_arc_points(0.065, -0.03, 0.118, -205 * deg, 20 * deg, 12), 0.013), light)
    sc.fill(f.rect(-0.01, 0.16, 0.62, 0.025, 0.012), shade(blue, 0.8))
    for a in (262, 290, 318, 345, 370, 390):
        x, y = 0.19 * math.cos(a * deg), -0.03 + 0.19 * math.sin(a * deg)
        sc.fill(f.circle(x, y, 0.026 if a < 350 else 0.02), foam)
    if sc.q:
        for x in (-0.22, 0.2):
            sc.fill(f.arc(x, 0.14, 0.035, math.pi * 1.15, math.pi * 1.85, 0.006), light)


def draw_leaf(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    f, green = Frame(cx, cy, k, rng.random() < 0.5, float(rng.uniform(0.5, 0.9))), sc.main(LEAF)
    dark = shade(green, 0.7)
    sc.fill(f.curve((0, 0.15), (0.01, 0.22), (-0.02, 0.27), 0.01), dark)
    blade = intersect(f.circle(-0.11, -0.01, 0.22), f.circle(0.11, -0.01, 0.22))
    sc.shadow(blade, k)
    sc.fill(blade, green)
    sc.fill(f.clip(blade, 0, 0, 1, 0), shade(green, 1.15))
    sc.fill(f.segment(0, 0.16, 0, -0.15, 0.007), dark)
    for y in (-0.08, -0.02, 0.04, 0.1):
        for side in (-1, 1):
            sc.fill(f.segment(0, y, side * 0.07, y - 0.05, 0.005), dark)


def draw_mushroom(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float) -> None:
    f, cap = Frame(cx, base, k), sc.main((214, 52, 52))
    sc.fill(f.rect(0, -0.08, 0.1, 0.16, 0.035), sc.tone((244, 232, 210)))
    sc.fill(f.clip(f.ellipse(0, -0.13, 0.2, 0.16), 0, -0.13, 0, -1), cap)
    sc.fill(f.rect(0, -0.13, 0.36, 0.025, 0.012), shade(cap, 0.8))
    for x, y, r in ((-0.09, -0.18, 0.025), (0.02, -0.24, 0.03), (0.11, -0.17, 0.02), (-0.03, -0.17, 0.015)):
        sc.fill(f.circle(x, y, r), sc.tone(WHITE))


def draw_planet(sc: Scene, rng: np.random.Generator, cx: float, cy: float, k: float) -> None:
    tilt = float(rng.uniform(-0.45, -0.2))
    f, body, pale = Frame(cx, cy, k), sc.main((226, 160, 90)), sc.tone((200, 190, 230))
    band = cut(f.ellipse(0, 0, 0.3, 0.07, tilt), f.ellipse(0, 0, 0.23, 0.045, tilt))
    sc.fill(band, pale)
    sphere = f.circle(0, 0, 0.15)
    sc.fill(sphere, body)
    for y, h in ((-0.07, 0.03), (0.02, 0.04), (0.09, 0.025)):
        sc.fill(intersect(sphere, f.rect(0, y, 0.4, h, 0, tilt * 0.6)), shade(body, 0.85))
    sc.fill(f.clip(band, 0, 0, -math.sin(tilt), math.cos(tilt)), pale)  # the ring's near half


SUBJECTS = {"trees": draw_trees, "mountain": draw_mountain, "sun": draw_sun, "moon": draw_moon, "cloud": draw_cloud,
            "rain": draw_rain, "lightning": draw_lightning, "snowflake": draw_snowflake, "snowman": draw_snowman,
            "rainbow": draw_rainbow, "flower": draw_flower, "cactus": draw_cactus, "palm": draw_palm, "wave": draw_wave,
            "leaf": draw_leaf, "mushroom": draw_mushroom, "planet": draw_planet}
GROUNDED = {"trees", "mountain", "snowman", "flower", "cactus", "palm", "mushroom", "wave"}
