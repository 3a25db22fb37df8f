"""The subjects of the sketch engine: the registry of drawings, and how a plan's subjects are laid out.

The drawings live by kind: `work.py` (checklist, phone, laptop, cards, figure), `animals.py`,
`food.py`, `places.py` (buildings), `vehicles.py`, `nature.py`, `objects.py`, `icons.py`, and
`lettering.py` (the fallback sign). Which words name which subject is `words.py`.

Each drawing paints one subject at scale k through `Scene.canvas`, which only needs `fill` and
`s`: `render` hands it a `Recorder`, so the subjects are planned first and then replayed onto the
real canvas (which lets it snapshot them half drawn for partial images). Grounded subjects stand on
the near hill; the others float above it. One subject is drawn near the middle, two or three side
by side, smaller; "X on Y" (a seat) puts X on Y's seat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from . import animals, food, icons, nature, objects, places, vehicles, work
from .lettering import draw_sign
from .palette import COLOUR_WORDS, hsl
from .scene import Scene
from .shapes import circle, segment
from .words import SUBJECT_WORDS, Pick, Plan

Draw = Callable[[Scene, np.random.Generator, float, float, float], None]
MODULES = (work, animals, food, places, vehicles, nature, objects, icons)
SUBJECTS: dict[str, Draw] = {name: draw for m in MODULES for name, draw in m.SUBJECTS.items()}
GROUNDED: frozenset[str] = frozenset(name for m in MODULES for name in m.GROUNDED)
SEAT_HEIGHT = {"sofa": 0.15, "chair": 0.2, "table": 0.245}  # at k = 1, where a rider sits
RIDER_SCALE = 0.6
FLOAT_HALF = 0.18  # about half the height of a floating subject at k = 1
WIDE = frozenset({"laptop", "bridge", "bus", "sofa", "table", "wave", "book", "skyline", "car", "mountain"})  # kept nearer the middle

missing = set(SUBJECT_WORDS) ^ set(SUBJECTS)
assert not missing, f"subjects without words or drawings: {sorted(missing)}"

__all__ = ["SUBJECTS", "SUBJECT_WORDS", "GROUNDED", "draw_subjects", "draw_pick"]


def draw_pick(sc: Scene, rng: np.random.Generator, pick: Pick, u: float, v: float, k: float) -> None:
    """One subject; a colour named for it is its own colour and the palette's accent meanwhile."""
    pal, own = sc.pal, sc.own
    if pick.colour:
        sc.own = hsl(*COLOUR_WORDS[pick.colour])
        sc.pal = replace(pal, accent=sc.own)
    try:
        SUBJECTS[pick.name](sc, rng, u, v, k)
    finally:
        sc.pal, sc.own = pal, own


def places_for(n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(u, scale) of n subjects side by side, the first in front near the middle."""
    side = float(rng.choice([-1.0, 1.0]))
    if n == 1:
        return [(side * rng.uniform(0.0, 0.14), rng.uniform(0.92, 1.08))]
    if n == 2:
        return [(side * rng.uniform(0.17, 0.22), 0.82), (-side * rng.uniform(0.22, 0.27), 0.72)]
    return [(side * rng.uniform(0.0, 0.04), 0.66), (-side * rng.uniform(0.3, 0.34), 0.6), (side * rng.uniform(0.3, 0.34), 0.6)]


def draw_subjects(sc: Scene, rng: np.random.Generator, extra: np.random.Generator,
                  ground: Callable[[np.ndarray], np.ndarray], plan: Plan, key: int) -> None:
    """The plan's subjects (or the fallback sign), standing ones on `ground`; then a little confetti."""
    standing = [p for p in plan.subjects if p.on is None]
    if not standing:
        u = float(rng.uniform(-0.06, 0.06))
        draw_sign(sc, rng, u, float(ground(np.float32(u))) + 0.03, 1.0, plan.lettering, key)
    places = places_for(max(len(standing), 1), rng)
    lift = rng.uniform(-0.08, 0.0, max(len(standing), 2))
    riders = {p.on: p for p in plan.subjects if p.on is not None}
    for pick, (u, k), dv in reversed(list(zip(standing, places, lift))):
        u, k = float(u) * (0.5 if pick.name in WIDE and len(standing) == 1 else 1.0), float(k)
        base = float(ground(np.float32(u))) + 0.03
        draw_pick(sc, rng, pick, u, base if pick.name in GROUNDED else -0.04 + float(dv), k)
        rider = riders.get(pick.name)
        if rider is not None:
            seat, rk = base - SEAT_HEIGHT[pick.name] * k, k * RIDER_SCALE
            draw_pick(sc, rng, rider, u, seat if rider.name in GROUNDED else seat - FLOAT_HALF * rk, rk)
    spots = extra.uniform([-0.45, -0.42, 0], [0.45, 0.2, 1], (8, 3))
    for u, v, kind in spots[: (0, 4, 8)[sc.q]]:  # confetti: pluses and dots around the subject
        colour = (sc.pal.accent, sc.pal.accent2, sc.pal.accent3)[int(kind * 3)]
        if kind < 0.5:
            sc.canvas.fill(segment(u - 0.012, v, u + 0.012, v, 0.004), colour)
            sc.canvas.fill(segment(u, v - 0.012, u, v + 0.012, 0.004), colour)
        else:
            sc.canvas.fill(circle(u, v, 0.008), colour)
