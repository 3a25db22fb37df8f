"""Transparent backgrounds for diffusers models: Darkroom's cut-out against whole-image pymatting.

A synthetic subject (a figure with soft edges blurred over ~1.5 px per 512 px of side, a hole, a thin
antenna, a striped colourful texture) on the green key as a generator draws it (tinted, shaded, noise
sigma 3.5), at 512x512 and 1024x1024; the true alpha is known, so every row also reports the alpha's
mean absolute error, over the image and over the true soft edge (0.02 < alpha < 0.98).

Candidates, each run once per round in a rotated order, medians over rounds:
    darkroom cutout     `postprocess.matting.cutout`, its steps timed one by one: key (backdrop and
                        trimap), alpha (closed-form matting on the unknown band, crop by crop),
                        foreground (unmixing, spill, fill)
    baseline            the same trimap, then pymatting on the whole image as its documentation does:
                        `estimate_alpha_cf(image, trimap)` (ichol-preconditioned) and
                        `estimate_foreground_ml(image, alpha)`
    preview_cutout      the keying-only RGBA for partial images
    png encode          `postprocess.encode.encode(rgba, "png")` of the cut-out, for scale: the step
                        every transparent image goes through anyway
In quick mode the baseline runs at 512 only (it takes ~4 s at 1024). See bench/README.md.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from bench._common import (
    REPO_ROOT,
    fmt,
    median,
    package_versions,
    ratio,
    rotated,
    table,
)
from darkroom.postprocess import keying, matting
from darkroom.postprocess.encode import encode

KEY = keying.KEYS["green"]
Steps = Callable[[np.ndarray], tuple[np.ndarray, dict[str, float]]]


def subject_on_key(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8, true alpha): the tests' figure (about 35% of the frame) on a realistic green backdrop."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.postprocess.composites import composite

    rgb, alpha, _, _ = composite(size, KEY, seed)
    return rgb, alpha


def darkroom_steps(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """`matting.cutout`, step by step (checked equal to it once in `run`)."""
    import pymatting

    start = time.perf_counter()
    seen = keying.backdrop(rgb, KEY)
    trimap = keying.trimap_of(seen)
    keyed = time.perf_counter()
    alpha = matting.solve_alpha(pymatting, rgb, seen, trimap)
    solved = time.perf_counter()
    rgba = matting._rgba(matting.foreground(rgb, alpha, trimap == 0.5, seen.field, KEY), alpha)
    done = time.perf_counter()
    return rgba, {"key": keyed - start, "alpha": solved - keyed, "foreground": done - solved}


def baseline_steps(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """The same trimap, then pymatting's whole-image closed-form alpha and multilevel foreground."""
    import pymatting

    start = time.perf_counter()
    trimap = keying.trimap(rgb, KEY)
    keyed = time.perf_counter()
    image = rgb / 255.0
    alpha = pymatting.estimate_alpha_cf(image, trimap)
    solved = time.perf_counter()
    colours = pymatting.estimate_foreground_ml(image, alpha)
    rgba = np.dstack([colours * 255, alpha * 255]).round().clip(0, 255).astype(np.uint8)
    done = time.perf_counter()
    return rgba, {"key": keyed - start, "alpha": solved - keyed, "foreground": done - solved}


def preview_steps(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    return matting.preview_cutout(rgb, KEY), {}


def measure(entries: list[tuple[str, Steps]], rgb: np.ndarray, truth: np.ndarray, rounds: int) -> list[dict]:
    """Rotated-order rounds; per candidate: total and per-step times (ms), alpha errors, its RGBA."""
    results = []
    for name, steps in entries:
        rgba, _ = steps(rgb)  # warm-up, and the output checked once
        estimated = rgba[..., 3] / 255
        edge = (truth > 0.02) & (truth < 0.98)
        results.append({"name": name, "steps": steps, "rgba": rgba, "total": [], "parts": {},
                        "mae": float(np.abs(estimated - truth).mean()),
                        "edge_mae": float(np.abs(estimated - truth)[edge].mean())})
    for round_index in range(rounds):
        for entry in rotated(results, round_index):
            start = time.perf_counter()
            _, parts = entry["steps"](rgb)
            entry["total"].append((time.perf_counter() - start) * 1000)
            for part, seconds in parts.items():
                entry["parts"].setdefault(part, []).append(seconds * 1000)
    return results


def png_steps(rgba: np.ndarray) -> Steps:
    def run(_: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        encode(rgba, "png", None)
        return rgba, {}
    return run


def block_table(results: list[dict], png_ms: float) -> str:
    base = next((r for r in results if "[baseline]" in r["name"]), None)
    base_total = median(base["total"]) if base else float("nan")
    rows = []
    for entry in results:
        total = median(entry["total"])
        parts = [fmt(median(entry["parts"].get(p, [])), 1) for p in ("key", "alpha", "foreground")]
        is_png = entry["name"].startswith("png")
        rows.append([entry["name"], fmt(total, 1), *parts, ratio(base_total, total), ratio(total, png_ms),
                     "" if is_png else fmt(entry["mae"], 4), "" if is_png else fmt(entry["edge_mae"], 3)])
    header = ["candidate", "total ms", "key ms", "alpha ms", "fg ms", "speed vs base", "x png encode",
              "alpha MAE", "edge MAE"]
    return table(header, rows)


def run(quick: bool) -> str:
    matting.warm_up()  # pymatting's numba code loaded (compiled on a fresh install) before any timing
    out = ["matting: " + package_versions("pymatting", "numba", "scipy"),
           ("rounds: rotated order, medians; speed vs base = baseline total / candidate total; x png encode = "
            "candidate total / PNG encode of the same RGBA; MAE of alpha against the truth (edge: 0.02 < a < 0.98)")]
    for size in (512, 1024):
        rounds = (3 if size == 512 else 5) if quick else (9 if size == 512 else 5)
        rgb, truth = subject_on_key(size)
        reference = matting.cutout(rgb, KEY)
        entries: list[tuple[str, Steps]] = [("darkroom cutout [DARKROOM]", darkroom_steps)]
        assert np.array_equal(darkroom_steps(rgb)[0], reference), "the timed steps must be cutout()"
        if size == 512 or not quick:
            entries.append(("pymatting whole image [baseline]", baseline_steps))
        entries += [("darkroom preview_cutout", preview_steps), ("png encode of the cut-out", png_steps(reference))]
        results = measure(entries, rgb, truth, rounds)
        unknown = np.mean(keying.trimap(rgb, KEY) == 0.5)
        out.append(f"\n## {size}x{size}, green key, {rounds} rounds, unknown band {unknown:.1%} of the pixels")
        out.append(block_table(results, median(results[-1]["total"])))
    return "\n".join(out)


if __name__ == "__main__":
    import sys
    print(run("--quick" in sys.argv))
