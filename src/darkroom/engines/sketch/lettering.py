"""The fallback of the sketch engine: a sign lettered with the prompt's words, and an emblem made of them.

When a prompt names no subject and no scene (words.py), `draw_sign` draws a signboard on two posts
with the prompt's first two main words (`words.main_words`) in vector-stroke capitals (`FONT`: A-Z
as polylines on a 4 x 6 grid), and an emblem on the board's corner whose outline (circle, hexagon,
shield, diamond, star, rounded square), pattern (stripes, dots, rings, chevrons) and colours come
from a hash of those words, with their initial in the middle. So two prompts with different words
get visibly different signs, and the same words always the same one. A prompt without letters
(only digits, punctuation or other scripts) gets the emblem alone, chosen by the prompt's hash.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from .scene import Frame, Scene, shade
from .shapes import Shape, intersect, union

# letter: strokes separated by "|", each "x y, x y, ..." on a grid 4 wide and 6 high (y down)
FONT = {
    "A": "0 6,2 0,4 6|0.7 4,3.3 4", "B": "0 6,0 0,2.8 0,3.8 0.8,3.8 2.2,2.8 3,0 3|2.8 3,4 3.9,4 5.1,3 6,0 6",
    "C": "4 0.9,3 0,1 0,0 1,0 5,1 6,3 6,4 5.1", "D": "0 0,0 6,2.4 6,4 4.4,4 1.6,2.4 0,0 0",
    "E": "4 0,0 0,0 6,4 6|0 3,3 3", "F": "4 0,0 0,0 6|0 3,3 3", "G": "4 0.9,3 0,1 0,0 1,0 5,1 6,3 6,4 5,4 3.4,2.2 3.4",
    "H": "0 0,0 6|4 0,4 6|0 3,4 3", "I": "2 0,2 6|0.8 0,3.2 0|0.8 6,3.2 6", "J": "4 0,4 4.8,3 6,1 6,0 4.8",
    "K": "0 0,0 6|4 0,0 3.6|1.4 2.6,4 6", "L": "0 0,0 6,4 6", "M": "0 6,0 0,2 3.6,4 0,4 6", "N": "0 6,0 0,4 6,4 0",
    "O": "1 0,3 0,4 1,4 5,3 6,1 6,0 5,0 1,1 0", "P": "0 6,0 0,3 0,4 1,4 2.2,3 3.2,0 3.2",
    "Q": "1 0,3 0,4 1,4 5,3 6,1 6,0 5,0 1,1 0|2.6 4.4,4 6.2", "R": "0 6,0 0,3 0,4 1,4 2.2,3 3.2,0 3.2|2 3.2,4 6",
    "S": "4 0.9,3 0,1 0,0 0.9,0 2.1,1 3,3 3,4 3.9,4 5.1,3 6,1 6,0 5.1", "T": "0 0,4 0|2 0,2 6",
    "U": "0 0,0 5,1 6,3 6,4 5,4 0", "V": "0 0,2 6,4 0", "W": "0 0,1 6,2 2.4,3 6,4 0", "X": "0 0,4 6|4 0,0 6",
    "Y": "0 0,2 3,4 0|2 3,2 6", "Z": "0 0,4 0,0 6,4 6",
}
STROKES = {ch: [[tuple(float(n) for n in p.split()) for p in stroke.split(",")] for stroke in spec.split("|")]
           for ch, spec in FONT.items()}
OUTLINES = ("circle", "hexagon", "shield", "diamond", "star", "square")
PATTERNS = ("stripes", "dots", "rings", "chevrons")
MAX_LETTERS = 12


def letter(f: Frame, ch: str, x: float, y: float, size: float, width: float) -> Shape | None:
    """One capital with its top-left corner at (x, y), `size` high, as a single stroked shape."""
    strokes = STROKES.get(ch.upper())
    if strokes is None:
        return None
    unit = size / 6
    return union(*[f.polyline([(x + px * unit, y + py * unit) for px, py in s], width) for s in strokes])


def write(sc: Scene, f: Frame, text: str, cx: float, cy: float, size: float, colour, max_width: float) -> None:
    """A line of capitals centred on (cx, cy), shrunk to fit `max_width`."""
    text = text[:MAX_LETTERS]
    size = min(size, max_width / max(len(text) * 5.4 / 6 - 1.4 / 6, 0.1))
    advance = size * 5.4 / 6
    x = cx - (len(text) * advance - size * 1.4 / 6) / 2
    for ch in text:
        shape = letter(f, ch, x, cy - size / 2, size, size * 0.085)
        if shape is not None:
            sc.fill(shape, colour)
        x += advance


def emblem_outline(f: Frame, kind: str, x: float, y: float, r: float) -> Shape:
    """One of `OUTLINES`, about r in radius, centred on (x, y)."""
    if kind == "circle":
        return f.circle(x, y, r)
    if kind == "star":
        return f.star(x, y, r * 1.15, 0.55, 6)
    if kind == "square":
        return f.rect(x, y, 1.8 * r, 1.8 * r, 0.35 * r)
    if kind == "hexagon":
        return f.polygon([(x + r * math.cos(math.pi / 6 + math.tau * i / 6), y + r * math.sin(math.pi / 6 + math.tau * i / 6))
                          for i in range(6)])
    if kind == "diamond":
        return f.polygon([(x + 1.1 * r, y), (x, y + 1.1 * r), (x - 1.1 * r, y), (x, y - 1.1 * r)])
    return f.outline([(x - r, y - r), (x + r, y - r), (x + r, y + 0.1 * r), (x, y + 1.1 * r), (x - r, y + 0.1 * r)])


def draw_emblem(sc: Scene, f: Frame, x: float, y: float, r: float, h: int, initial: str) -> None:
    """An emblem whose outline, pattern and colours are picked by the hash h."""
    kind, pattern = OUTLINES[h % len(OUTLINES)], PATTERNS[(h >> 4) % len(PATTERNS)]
    colours = (sc.pal.accent, sc.pal.accent2, sc.pal.accent3)
    back, detail = colours[(h >> 8) % 3], colours[((h >> 8) % 3 + 1 + (h >> 10) % 2) % 3]
    outer = emblem_outline(f, kind, x, y, r)
    sc.shadow(outer, f.k)
    sc.fill(outer, shade(back, 0.8))
    inner = emblem_outline(f, kind, x, y, r * 0.86)
    sc.fill(inner, back)
    turn = ((h >> 12) % 8) * math.pi / 8
    if pattern == "stripes":
        for i in range(-3, 4):
            sc.fill(intersect(inner, f.rect(x + i * r * 0.3, y, r * 0.12, r * 3, 0, turn)), detail, 0.8)
    elif pattern == "dots":
        for i in range(-2, 3):
            for j in range(-2, 3):
                sc.fill(intersect(inner, f.circle(x + i * r * 0.38, y + j * r * 0.38, r * 0.08)), detail, 0.8)
    elif pattern == "rings":
        for i in (0.35, 0.6):
            sc.fill(intersect(inner, f.arc(x, y, r * i, 0, math.tau, r * 0.05)), detail, 0.8)
    else:
        for i in range(-2, 3):
            yy = y + i * r * 0.38
            sc.fill(intersect(inner, f.polyline([(x - r, yy + r * 0.3), (x, yy), (x + r, yy + r * 0.3)], r * 0.06)),
                    detail, 0.8)
    if initial:
        sc.fill(f.circle(x, y, r * 0.42), sc.pal.card)
        write(sc, f, initial, x, y, r * 0.46, sc.pal.ink, r)


def draw_sign(sc: Scene, rng: np.random.Generator, cx: float, base: float, k: float, words: tuple[str, ...],
              key: int) -> None:
    """A signboard on two posts with `words` lettered on it, and their emblem (module docstring)."""
    h = zlib.crc32(" ".join(words).encode()) if words else key
    f, pal = Frame(cx, base, k), sc.pal
    wood = sc.tone((150, 104, 70))
    for x in (-0.18, 0.18):
        sc.fill(f.rect(x, -0.12, 0.035, 0.24, 0.006), wood)
    board = f.rect(0, -0.33, 0.62, 0.3, 0.03)
    sc.shadow(board, k)
    sc.fill(board, shade(pal.accent, 0.75))
    sc.fill(f.rect(0, -0.33, 0.58, 0.26, 0.02), pal.card)
    if not words:
        draw_emblem(sc, f, 0, -0.33, 0.11, h, "")
        return
    lines = [w.upper() for w in words]
    size = 0.1 if len(lines) == 1 else 0.075
    for i, text in enumerate(lines):
        y = -0.33 + (i - (len(lines) - 1) / 2) * 0.105
        write(sc, f, text, 0.03, y, size, pal.ink, 0.46)
    draw_emblem(sc, f, -0.29, -0.47, 0.085, h, lines[0][0])
