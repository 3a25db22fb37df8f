"""Prompt words to colours for the sketch engine.

The tables below are the whole vocabulary: colour words pick base hues (first mentioned = the
backdrop, second = accents, third = details), mood words nudge warmth, lightness and saturation.
A prompt without colour words gets hues derived from a stable hash of the prompt. Edits can pull a
palette toward reference colours (`tint_palette`), taken from their extra input images.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

# word: (hue in degrees, saturation, lightness), HSL
COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (2, 0.78, 0.52), "crimson": (350, 0.75, 0.45), "scarlet": (5, 0.85, 0.5),
    "coral": (12, 0.8, 0.64), "peach": (22, 0.85, 0.74), "orange": (28, 0.92, 0.55),
    "amber": (40, 0.9, 0.52), "gold": (44, 0.8, 0.52), "golden": (44, 0.8, 0.52),
    "yellow": (50, 0.92, 0.56), "lime": (88, 0.7, 0.5), "olive": (68, 0.42, 0.4),
    "green": (135, 0.55, 0.44), "emerald": (145, 0.65, 0.42), "mint": (155, 0.5, 0.7),
    "teal": (178, 0.62, 0.38), "turquoise": (172, 0.65, 0.5), "cyan": (188, 0.78, 0.5),
    "blue": (215, 0.76, 0.52), "azure": (205, 0.8, 0.6), "navy": (225, 0.62, 0.24),
    "indigo": (250, 0.52, 0.4), "purple": (275, 0.56, 0.48), "violet": (265, 0.62, 0.6),
    "lavender": (260, 0.5, 0.78), "magenta": (312, 0.76, 0.5), "pink": (335, 0.76, 0.72),
    "rose": (345, 0.7, 0.62), "brown": (25, 0.45, 0.34), "beige": (38, 0.42, 0.8),
    "cream": (45, 0.6, 0.9), "black": (220, 0.08, 0.1), "white": (210, 0.1, 0.95),
    "grey": (215, 0.06, 0.55), "gray": (215, 0.06, 0.55), "silver": (210, 0.08, 0.75),
}

# word: (warmth -1 cool .. +1 warm, lightness shift, saturation factor)
MOOD_WORDS: dict[str, tuple[float, float, float]] = {
    "warm": (1.0, 0.02, 1.05), "sunset": (1.0, -0.02, 1.15), "sunrise": (0.8, 0.04, 1.05),
    "cozy": (0.8, -0.04, 0.9), "autumn": (0.9, -0.03, 1.0), "fire": (1.0, 0.0, 1.2),
    "cool": (-1.0, 0.0, 1.0), "calm": (-0.6, 0.03, 0.8), "ocean": (-0.8, 0.0, 1.0),
    "sea": (-0.6, 0.0, 1.0), "winter": (-0.8, 0.08, 0.7), "ice": (-1.0, 0.1, 0.7),
    "dark": (0.0, -0.3, 0.9), "night": (-0.3, -0.3, 0.85), "midnight": (-0.4, -0.34, 0.85),
    "moody": (0.0, -0.2, 0.75), "bright": (0.0, 0.08, 1.2), "cheerful": (0.2, 0.06, 1.25),
    "vibrant": (0.0, 0.03, 1.35), "happy": (0.3, 0.06, 1.2), "pastel": (0.0, 0.15, 0.62),
    "soft": (0.0, 0.1, 0.7), "muted": (0.0, 0.0, 0.55), "minimal": (0.0, 0.05, 0.7),
}

# hue offsets (degrees) from the primary hue for the accent and detail colours
SCHEMES = ((0, 180, 35), (0, 150, 210), (0, 40, 200), (0, 120, 240), (0, 200, 30), (0, 30, 160))
MOOD_SCHEME = (0, 28, -30)  # strongly warm or cool prompts stay analogous
NEUTRAL = 0.15  # named colours less saturated than this are greys
WARM_HUE, COOL_HUE, NIGHT_HUE = 32.0, 212.0, 230.0
SKIN_TONES = ((246, 208, 178), (234, 184, 146), (198, 140, 100), (150, 98, 66), (104, 68, 48))

RGB = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class Palette:
    sky_top: RGB
    sky_bottom: RGB
    sun: RGB
    hills: tuple[RGB, ...]  # far to near
    far: RGB  # mountains and skylines, between the sky and the first hill
    water: RGB
    accent: RGB
    accent2: RGB
    accent3: RGB
    card: RGB
    ink: RGB
    line: RGB
    shadow: RGB
    foliage: RGB
    skin: RGB


def prompt_words(prompt: str) -> list[str]:
    return re.findall(r"[a-z]+", prompt.lower())


def mix_hue(a: float, b: float, t: float) -> float:
    """Hue `t` of the way from `a` to `b` along the shorter arc."""
    return (a + (((b - a + 180.0) % 360.0) - 180.0) * t) % 360.0


def _hue_distance(a: float, b: float) -> float:
    return abs(((b - a + 180.0) % 360.0) - 180.0)


def hsl(h: float, s: float, light: float) -> RGB:
    r, g, b = colorsys.hls_to_rgb((h % 360.0) / 360.0, min(max(light, 0.0), 1.0), min(max(s, 0.0), 1.0))
    return (float(round(r * 255)), float(round(g * 255)), float(round(b * 255)))


def _mood(words: list[str]) -> tuple[float, float, float]:
    warmth, light, sat = 0.0, 0.0, 1.0
    for w in dict.fromkeys(words):
        if w in MOOD_WORDS:
            dw, dl, ds = MOOD_WORDS[w]
            warmth, light, sat = warmth + dw, light + dl, sat * ds
    return min(max(warmth, -1.0), 1.0), min(max(light, -0.38), 0.2), min(max(sat, 0.3), 1.7)


def _named_colours(words: list[str]) -> list[tuple[float, float, float]]:
    return [COLOUR_WORDS[w] for w in dict.fromkeys(words) if w in COLOUR_WORDS]


def _base_colours(words: list[str], key: int, warmth: float) -> list[tuple[float, float, float]]:
    """Three base colours: the named ones first, the rest from a colour scheme picked by the hash."""
    named = _named_colours(words)[:3]
    scheme = MOOD_SCHEME if abs(warmth) > 0.5 else SCHEMES[(key >> 9) % len(SCHEMES)]
    if not named:
        named = [(float(key % 360), 0.62, 0.55)]
    hue0, sat = named[0][0], 0.66
    if all(c[1] < NEUTRAL for c in named):  # black, white, grey: keep the picture monochrome
        sat = 0.08
    for offset, light in zip(scheme[len(named):], (0.55, 0.4)):
        named.append(((hue0 + offset) % 360.0, sat, light if sat < 0.1 else 0.55))
    return named


def _sun_hue(named_second: tuple[float, float, float] | None, warmth: float) -> float:
    """Suns stay in the yellow to orange range unless the prompt's second colour is one of those."""
    if named_second and (named_second[0] <= 60 or named_second[0] >= 340) and named_second[1] > 0.3:
        return named_second[0]
    return 44.0 - 14.0 * max(warmth, 0.0)


def build_palette(words: list[str], key: int, rng: np.random.Generator, style: str | None, night: bool) -> Palette:
    """The colours of one picture: prompt words first, a little per-seed jitter, then the style."""
    warmth, dl, sm = _mood(words)
    named = _named_colours(words)
    (h1, s1, l1), (h2, s2, l2), (h3, s3, _) = _base_colours(words, key, warmth)
    if night and not named:  # unnamed night skies lean blue
        h1 = mix_hue(h1, NIGHT_HUE, 0.75)
    jitter = float(rng.uniform(-9.0, 9.0))
    if warmth:  # pull hues toward orange or blue, less the further away they are
        target = WARM_HUE if warmth > 0 else COOL_HUE
        pull = [abs(warmth) * 0.3 * max(0.0, 1 - _hue_distance(h, target) / 150) for h in (h1, h2, h3)]
        h1, h2, h3 = (mix_hue(h, target, t) for h, t in zip((h1, h2, h3), pull))
    h1, h2, h3 = h1 + jitter, h2 + jitter, h3 + jitter
    sm *= {"natural": 0.5, "vivid": 1.12}.get(style or "", 1.0)
    base = 0.6 + dl + (l1 - 0.5) * 0.25
    if style == "natural":
        base = 0.55 + (base - 0.55) * 0.8
    sun_hue = _sun_hue(named[1] if len(named) > 1 else None, warmth) + jitter * 0.5
    sun_sat = 0.85 if not named or max(c[1] for c in named) >= NEUTRAL else 0.1
    if night:
        sky_top = hsl(mix_hue(h1, NIGHT_HUE, 0.55), 0.5 * sm, 0.13)
        sky_bottom = hsl(mix_hue(h1, h2, 0.25), 0.45 * sm, 0.3)
        sun = hsl(sun_hue, 0.35 * sm, 0.9)
    else:
        sky_top = hsl(h1, s1 * 0.62 * sm, min(base + 0.22, 0.9))
        sky_bottom = hsl(mix_hue(h1, sun_hue if warmth > 0.3 else h2, 0.35), s1 * 0.7 * sm, min(base + 0.3, 0.94))
        sun = hsl(sun_hue, sun_sat * sm, 0.62 if style != "natural" else 0.7)
    hills = tuple(  # far to near: a touch more saturated and darker each
        hsl(mix_hue(h1, h3, 0.06 * i), min(s1 * sm * (0.42 + 0.08 * i), 0.62), base * (1 - 0.13 * i) - 0.04)
        for i in range(4)
    )
    return Palette(
        sky_top=sky_top,
        sky_bottom=sky_bottom,
        sun=sun,
        hills=hills,
        far=hsl(mix_hue(h1, h2, 0.15), s1 * sm * 0.4, base + 0.07 if not night else base - 0.02),
        water=hsl(mix_hue(h1, 205, 0.85), 0.5 * sm, base - 0.08),
        accent=hsl(h2, s2 * sm, min(max(l2, 0.4), 0.62)),
        accent2=hsl(h3, s3 * sm, 0.5),
        accent3=hsl(mix_hue(h2, h3, 0.5) + 20, max(s2, s3) * 0.85 * sm, 0.68),
        card=hsl(h1, 0.3, 0.97),
        ink=hsl(h1, 0.32, 0.17),
        line=hsl(h1, 0.14, 0.84),
        shadow=hsl(h1, 0.45, 0.1),
        foliage=hsl(mix_hue(h1, 130, 0.4), 0.45 * sm, base * 0.62),
        skin=tuple(float(c) for c in SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]),
    )


TINT = 0.6  # how far `tint_palette` moves hue and saturation toward the reference colours
BACKDROP_FIELDS = ("sky_top", "sky_bottom", "hills", "far", "water", "card", "ink", "line", "shadow", "foliage")
ACCENT_FIELDS = {"accent": 1, "accent2": 2, "accent3": 3, "sun": 4}  # which reference colour, modulo their count


def tint_palette(pal: Palette, colours: Sequence[RGB], weight: float = TINT) -> Palette:
    """Pull hues and saturations `weight` of the way toward reference colours, keeping each lightness.

    The first colour tints the backdrop family (sky, hills, card, ink...), the next ones the accents and
    the sun in turn; skin tones are left alone. A grey reference (no hue) only lowers saturation.
    """
    if not colours:
        return pal
    refs = [colorsys.rgb_to_hls(*(min(max(c / 255, 0.0), 1.0) for c in colour)) for colour in colours]

    def toward(colour: RGB, ref: tuple[float, float, float]) -> RGB:
        h, light, s = colorsys.rgb_to_hls(*(c / 255 for c in colour))
        rh, _, rs = ref
        hue = mix_hue(h * 360, rh * 360, weight) if rs > 0.05 else h * 360
        return hsl(hue, s + (rs - s) * weight, light)

    changes: dict[str, object] = {}
    for name in (f.name for f in fields(pal)):
        if name in BACKDROP_FIELDS or name in ACCENT_FIELDS:
            ref, value = refs[ACCENT_FIELDS.get(name, 0) % len(refs)], getattr(pal, name)
            changes[name] = tuple(toward(c, ref) for c in value) if name == "hills" else toward(value, ref)
    return replace(pal, **changes)
