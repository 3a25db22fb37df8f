"""The local image check: nudenet's bundled ONNX detector, asked how likely an image shows nudity.

    detector = NudityDetector()
    detector.score(pixels)                 # 0..1: the highest score of an exposed intimate body part anywhere
    detector.score_batch(images, wide=True)  # the same for several images, in one call of the model
    detector.use_device("cuda:0")          # run on that GPU when onnxruntime's CUDA provider is installed

nudenet ships the detector (`320n.onnx`, YOLOv8-style: 18 body-part classes over 2100 anchors at
320x320) in its wheel, so it works offline. We run the model through onnxruntime ourselves rather
than through `nudenet.NudeDetector.detect`: we need one number per image, not boxes, and its
post-processing loops over every anchor in Python (several ms); the maximum over the anchors of the
exposed classes is the same top score its boxes would carry, since non-maximum suppression keeps the
best box.

Where it runs. The model's input is always 320x320, so its cost per image is fixed (~2.2 GFLOP:
25 ms on one core of the development machine, 14 ms on two; a batch of k costs k times one on a
CPU, a fraction of that on a GPU). On the CPU, two sessions share the model: a narrow one (few
threads, `NARROW_THREADS`) for when an engine computes on the same cores, and a wide one (every core,
up to 8) for when no engine does (`wide=True`, the moderator's choice). When a local engine runs on
CUDA and onnxruntime's CUDA provider is installed (the `[gpu]` extra: onnxruntime-gpu),
`use_device` moves the detector onto that GPU; `providers_for` is that choice.

Only exposed genitalia, anus, buttocks and female breasts count. The detector knows nothing of age;
the policy (`moderation/__init__.py`) blocks nudity in any image whose prompt names minors.
Scores on synthetic pictures: the sketch engine's outputs mostly stay below 0.2 but reach 0.42 in a
few hundred samples at 256-512 px (a sailboat's hull, a portrait in peach tones), flat or noisy
gradients stay below 0.15, and a stylised drawing of breasts reaches 0.9 (tests/moderation). The
default thresholds (auto 0.6, low 0.8) leave that margin.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

EXPOSED = ("FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_EXPOSED", "BUTTOCKS_EXPOSED",
           "FEMALE_BREAST_EXPOSED")
# The detector's classes, in its output order (nudenet's own list).
CLASSES = ("FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
           "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
           "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
           "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED")
INPUT_SIDE = 320
_BOX_FIELDS = 4  # cx, cy, w, h before the class scores


class NudityDetector:
    """Thread-safe (onnxruntime sessions are); loads the model on first use or in `load()`."""

    def __init__(self) -> None:
        self._sessions: dict[str, Any] = {}  # "narrow", "wide" (CPU), or "gpu"
        self._lock = threading.Lock()
        self._rows = np.array([_BOX_FIELDS + CLASSES.index(name) for name in EXPOSED])
        self.provider = "CPUExecutionProvider"

    def load(self) -> None:
        """Open the CPU sessions (the model file is read once per session, ~30 ms each)."""
        self._session("narrow")
        self._session("wide")

    def use_device(self, device: str) -> str:
        """Run on `device` ("cuda", "cuda:N") when onnxruntime can; the provider now used."""
        import onnxruntime

        providers = providers_for(device, onnxruntime.get_available_providers())
        if providers[0] == "CPUExecutionProvider" or "gpu" in self._sessions:
            return self.provider
        with self._lock:
            self._sessions["gpu"] = _open_session(providers, threads=1)
            self.provider = providers[0][0]
        return self.provider

    def score(self, pixels: np.ndarray) -> float:
        """The highest exposed-body-part score in an RGB or RGBA uint8 image (RGBA over grey)."""
        return max(self.scores(pixels).values())

    def scores(self, pixels: np.ndarray) -> dict[str, float]:
        """Every exposed class's highest score."""
        output = self._run(_input(pixels), wide=False)  # (1, 4 + classes, anchors)
        return {name: float(output[0, row].max()) for name, row in zip(EXPOSED, self._rows, strict=True)}

    def score_batch(self, images: Sequence[np.ndarray], wide: bool = False) -> list[float]:
        """`score` of each image, from one call of the model on all of them (the same numbers, to
        float rounding: tests/moderation/test_nudity.py)."""
        if not images:
            return []
        output = self._run(np.concatenate([_input(pixels) for pixels in images]), wide)
        return [float(scores.max()) for scores in output[:, self._rows]]

    def _run(self, batch: np.ndarray, wide: bool) -> np.ndarray:
        session = self._sessions.get("gpu") or self._session("wide" if wide else "narrow")
        return session.run(None, {"images": batch})[0]

    def _session(self, kind: str) -> Any:
        session = self._sessions.get(kind)
        if session is None:
            with self._lock:
                session = self._sessions.get(kind)
                if session is None:
                    threads = NARROW_THREADS if kind == "narrow" else WIDE_THREADS
                    session = self._sessions[kind] = _open_session(["CPUExecutionProvider"], threads)
        return session


def providers_for(device: str, available: Sequence[str]) -> list[Any]:
    """onnxruntime's providers for a detector beside an engine on `device`: CUDA (on that GPU) when the
    engine is on CUDA and the CUDA provider is installed, otherwise the CPU."""
    if device.startswith("cuda") and "CUDAExecutionProvider" in available:
        index = int(device.partition(":")[2] or 0)
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


# The narrow session leaves the cores to an engine computing beside it (320x320 here: 25 ms on 1
# thread, 14 ms on 2); the wide one takes them when none does.
_CORES = os.cpu_count() or 1
NARROW_THREADS = max(1, min(4, _CORES // 4))  # 1 on a 2-core box, 4 on 16
WIDE_THREADS = max(1, min(8, _CORES))


def _open_session(providers: list[Any], threads: int) -> Any:
    # onnxruntime (1.32 on Linux too) carries Microsoft's 1DS telemetry and writes a session id file
    # (`.ses`) to TMPDIR at import. A self-hosted server must not phone home or leave files: switch
    # it off before the import (the variable is read when the library loads), and again through the API.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    # Only nudenet's model file is used: finding it without importing the package spares the process
    # OpenCV, which `import nudenet` loads (~45 MB resident).
    package = importlib.util.find_spec("nudenet")
    try:
        import onnxruntime
    except ImportError:
        package = None
    if package is None or not package.submodule_search_locations:  # core dependencies: a broken install
        raise RuntimeError("image moderation needs nudenet and onnxruntime: pip install darkroom")
    onnxruntime.disable_telemetry_events()
    model = Path(package.submodule_search_locations[0]) / "320n.onnx"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Its worker threads must sleep when a call ends: by default they spin for a while, taking the
    # cores from the engine's next step (a tiny SD call took 1.33x as long beside a spinning pool).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(model), options, providers=providers)


def _input(pixels: np.ndarray) -> np.ndarray:
    """The detector's input: the image padded to a square at its top left (as nudenet does), 320x320,
    RGB in [0, 1], channels first. Transparent images are seen over mid grey."""
    pixels = over_grey(pixels)
    height, width = pixels.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), np.uint8)
    square[:height, :width] = pixels
    small = Image.fromarray(square)
    if side >= 2 * INPUT_SIDE:  # a box reduction first: half the time of one antialiased resize, same scores
        small = small.reduce(side // INPUT_SIDE)
    small = small.resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)
    return (np.asarray(small, np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None]


def over_grey(pixels: np.ndarray) -> np.ndarray:
    """RGB as a viewer shows the image: RGBA composited over mid grey (what is transparent is not seen)."""
    if pixels.shape[2] != 4:
        return pixels
    alpha = pixels[..., 3:4].astype(np.float32) / 255
    return (pixels[..., :3] * alpha + 128 * (1 - alpha)).astype(np.uint8)
