"""The sketch engine: a deterministic procedural illustrator. It is NOT an AI model.

It draws flat, vector-style pictures (a backdrop gradient, layered hills, a setting such as
mountains, a skyline, water, a beach, snow, a desert, space or underwater, a sun or moon, and one to
three subjects from a vocabulary of over 80: animals, food, buildings, vehicles, nature, objects,
icons, the todo-app set) from the prompt's words (`words.plan`) and a seeded random generator; a
prompt it knows no word of gets a sign lettered with its words. It exists so the whole Image API
works offline, in CI, and for anyone testing an Image API client: the same prompt, size, seed,
quality, style and transparency give byte-identical pixels in any process. docs/sketch.md lists
what it knows.

Edits and variations (`edit.py`) work on the input images with the same palette:
- an edit without a mask restyles the whole input: its luminance, smoothed and posterised into
  4/6/8 bands (low/medium/high), is mapped onto the prompt's palette, inked along the band edges,
  and mixed with the original colours by `source.strength`;
- an edit with a mask redraws the masked area only: the restyled input with the prompt's subjects
  drawn over it (wherever repaint is 0 the output is the input);
- extra input images are colour references: their dominant colours tint the palette;
- a variation rebuilds the input as a mosaic, tile by tile: a seeded grid whose tiles are shuffled,
  some mirrored, and hue-rotated (luminance kept) by a seeded angle scaled by `source.strength`.

Partial images (`job.partial_images` = k, up to 3) are snapshots of the real canvas, taken before
the picture is finished and never changing it: a generation sends the sky, then the landscape, then
the subjects half drawn (k=1: the landscape; k=2: the sky and the landscape; a transparent picture:
its subjects at 1/(k+1), 2/(k+1)... of their drawing). Edits and variations send their own stages.

Moderation. Its own drawings are flat geometric shapes in prompt-chosen palettes: nothing in them
is a body. On moderation's nudity detector they scored at most 0.43 in 7,500 pictures: 4,500 random
prompts (subjects, colour and mood words), sizes, qualities, styles, seeds and transparency, then a
search of 3,000 seeds around the highest, in skin-like tones (the 0.43: a transparent figure in
brown and orange, seen over grey); the median is 0.002. After the vocabulary grew to 84 subjects and
the fallback sign, a sweep of 3,088 more scored at most 0.31 (median 0.004): every subject alone,
opaque and transparent, 4 seeds, prompted in skin-like colour words (peach, beige, coral...), and
2,400 random pictures of the sweep below. tests/moderation/test_nudity.py sweeps a sample, finals
and partials, on every run.
`DETECTOR_CEILING` (0.5) declares that bound with a margin: while every threshold that could block
is above it (the defaults are 0.6 and 0.8), the service does not run the detector on its
generations. Edits and variations carry the user's pixels and are always checked.

The shapes (signed distance functions) are in `shapes.py`, the canvas in `canvas.py`, the backdrop
in `backdrop.py`, the word tables in `words.py`, the subjects' registry and layout in `subjects.py`
(the drawings in the modules it names), the colour and mood tables in `palette.py`. With a
transparent background the backdrop is left out and only the subjects are drawn, so the alpha is real.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Callable, Sequence

import numpy as np

from ..base import Capabilities, Engine, EngineCancelled, Generation, GenerationJob

DETECTOR_CEILING = 0.5  # see "Moderation" above
from .backdrop import Land, draw_land_stage, draw_sky_stage, plan_land, scene_palette, sky_rows
from .canvas import STAGES_FOR, Canvas, Partials, Recorder
from .palette import RGB, Palette, build_palette, tint_palette
from .scene import Scene
from .subjects import draw_subjects
from .words import plan, words_of

DETAIL = {"low": 0, "medium": 1, "high": 2}


# ---- entry points ---------------------------------------------------------------------------------


def seeded(prompt: str, seed: int) -> tuple[int, list[np.random.Generator]]:
    """The prompt's hash and five independent generators: palette, land, subjects, extras, edits."""
    key = zlib.crc32(prompt.encode("utf-8"))
    streams = np.random.SeedSequence([key, abs(int(seed)), int(seed < 0)]).spawn(5)
    return key, [np.random.default_rng(s) for s in streams]


def prompt_palette(prompt: str, key: int, rng: np.random.Generator, style: str | None,
                   tint: Sequence[RGB] = ()) -> Palette:
    """The prompt's palette (night skies for night words), pulled toward `tint` colours if any."""
    words, scenes = words_of(prompt), plan(prompt).scenes
    pal = scene_palette(build_palette(words, key, rng, style, night="night" in scenes), scenes)
    return tint_palette(pal, tint) if tint else pal


def render(prompt: str, width: int, height: int, *, seed: int, quality: str, transparent: bool = False,
           style: str | None = None, partials: int = 0, on_partial: Callable[[int, np.ndarray], None] | None = None,
           tint: Sequence[RGB] = ()) -> np.ndarray:
    """One picture as a uint8 array, (height, width, 3), or (height, width, 4) when transparent.

    With `partials` = k > 0, `on_partial(index, pixels)` first gets up to k snapshots of the canvas
    (module docstring), shaped as the result. `tint`: colours the palette leans toward (edits).
    """
    # 1. Check the arguments; seed the generators
    if width < 1 or height < 1 or quality not in DETAIL:
        raise ValueError(f"bad size {width}x{height} or quality {quality!r}")
    picture = plan(prompt)
    key, (rng_palette, rng_land, rng_subject, rng_extra, _) = seeded(prompt, seed)
    motifs = set(picture.scenes) | ({"water"} if "beach" in picture.scenes else set())
    q = DETAIL[quality]
    # 2. Plan: the canvas (low quality: half resolution, scaled up), palette and land
    draft = q == 0 and min(width, height) >= 512
    canvas = Canvas(-(-width // 2), -(-height // 2)) if draft else Canvas(width, height)
    pal = prompt_palette(prompt, key, rng_palette, style, tint)
    sc = Scene(canvas, pal, q, "night" in motifs, style)
    land = plan_land(rng_land, "water" in motifs)
    finish = functools.partial(_full_size, width=width, height=height, draft=draft)
    snap = Partials(partials, on_partial)
    stages = STAGES_FOR[snap.wanted] if not transparent else ()
    # 3. The backdrop: sky, then land
    if not transparent:
        disc = not {"sun", "moon", "planet"} & {pick.name for pick in picture.subjects}  # no second sun
        end = draw_sky_stage(sc, rng_land, rng_extra, land, picture.scenes, disc)
        if 0 in stages:  # the rows the hills will cover show the rest of the gradient
            snap.offer(lambda: finish(_sky_snapshot(sc, land, end)))
        draw_land_stage(sc, rng_land, rng_extra, land, motifs)
        if 1 in stages:
            snap.offer(lambda: finish(canvas.snapshot(False, q == 2)))
    # 4. The subjects: planned on a recorder, then replayed with snapshots along the way
    sc.canvas = Recorder(canvas)
    draw_subjects(sc, rng_subject, rng_extra, land.top(2), picture, key)
    ops, sc.canvas = sc.canvas.ops, canvas
    if transparent:  # k snapshots evenly spaced through the subjects
        marks = [max(1, len(ops) * (j + 1) // (snap.wanted + 1)) for j in range(snap.wanted)]
    else:  # one halfway through them
        marks = [max(1, len(ops) // 2)] * (snap.wanted - snap.sent if 2 in stages else 0)
    for i, op in enumerate(ops, 1):
        canvas.fill(*op)
        if marks and marks[0] <= i < len(ops) and snap.offer(lambda: finish(canvas.snapshot(transparent, q == 2))):
            marks.pop(0)
    return finish(canvas.to_uint8(transparent, dither=q == 2))


def _sky_snapshot(sc: Scene, land: Land, end: int) -> np.ndarray:
    c = sc.canvas
    rgb = c.rgb.copy()
    rgb[:, end:] = sky_rows(sc, land, end, c.h)
    return c.to_uint8(False, sc.q == 2, rgb)


def _full_size(pixels: np.ndarray, *, width: int, height: int, draft: bool) -> np.ndarray:
    if draft:
        pixels = pixels.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return np.ascontiguousarray(pixels)


def _generated(job: GenerationJob, seed: int, send: Callable[[int, np.ndarray], None] | None) -> np.ndarray:
    return render(job.prompt, job.width, job.height, seed=seed, quality=job.quality, transparent=job.transparent,
                  style=job.style, partials=job.partial_images, on_partial=send)


class SketchEngine(Engine):
    """Procedural flat illustrations (not an AI model): offline, instant and reproducible."""

    name = "sketch"
    capabilities = Capabilities(native_alpha=True, max_pixels=3840 * 2160, max_batch=16,
                                concurrency=os.cpu_count() or 2,  # pure numpy: thread-safe
                                operations=frozenset({"generate", "edit", "variation"}), max_source_images=16,
                                partial_images=True, detector_ceiling=DETECTOR_CEILING)

    def generate(self, job: GenerationJob, should_stop: Callable[[], bool] = lambda: False) -> Generation:
        from .edit import (  # edit draws its subjects with `render`, from here
            edit,
            variation,
        )

        draw = {"generate": _generated, "edit": edit, "variation": variation}.get(job.operation)
        if draw is None:
            raise ValueError(f"the sketch engine cannot do operation {job.operation!r}")
        images = []
        for i, seed in enumerate(job.seeds):
            if should_stop():  # every client of the call has gone: stop between images
                raise EngineCancelled(f"{i} images")
            send = functools.partial(job.on_partial, i) if job.partial_images and job.on_partial else None
            images.append(draw(job, seed, send))
        return Generation(images)

    def generate_batch(self, jobs: Sequence[GenerationJob],
                       should_stop: Callable[[], bool] = lambda: False) -> list[Generation]:
        return [self.generate(job, should_stop) for job in jobs]
