"""The local image check: nudenet's bundled ONNX detector, asked how likely an image shows nudity.

    detector = NudityDetector()
    detector.score(pixels)   # 0..1: the highest score of an exposed intimate body part anywhere

nudenet ships the detector (`320n.onnx`, YOLOv8-style: 18 body-part classes over 2100 anchors at
320x320) in its wheel, so it works offline. We run the model through onnxruntime ourselves rather
than through `nudenet.NudeDetector.detect`: we need one number per image, not boxes, and its
post-processing loops over every anchor in Python (several ms); the maximum over the anchors of the
exposed classes is the same top score its boxes would carry, since non-maximum suppression keeps the
best box.

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
from pathlib import Path

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
        self._session = None
        self._lock = threading.Lock()
        self._rows = np.array([_BOX_FIELDS + CLASSES.index(name) for name in EXPOSED])

    def load(self) -> None:
        with self._lock:
            if self._session is None:
                self._session = _open_session()

    def score(self, pixels: np.ndarray) -> float:
        """The highest exposed-body-part score in an RGB or RGBA uint8 image (RGBA over grey)."""
        return max(self.scores(pixels).values())

    def scores(self, pixels: np.ndarray) -> dict[str, float]:
        """Every exposed class's highest score."""
        if self._session is None:
            self.load()
        output = self._session.run(None, {"images": _input(pixels)})[0]  # (1, 4 + classes, anchors)
        return {name: float(output[0, row].max()) for name, row in zip(EXPOSED, self._rows, strict=True)}


def _open_session():
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
    # Few threads per call: the service runs several checks at once in its pool (and the engine and the
    # encoders run too), so a big thread team per call would fight them for the same cores. On a large
    # machine a few threads cut the latency (320x320 here: 21.6 ms on 1 thread, 12.4 ms on 2).
    options.intra_op_num_threads = max(1, min(4, (os.cpu_count() or 1) // 4))  # 1 on a 2-core box, 4 on 16
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


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
