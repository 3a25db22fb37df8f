"""The docs examples run as users run them, against a live `darkroom serve`.

examples/hero_images.py runs here; examples/hero_images.mjs runs in tests/test_sdk_node.py. Both must
write exactly the files below, which are decoded with Pillow and checked for format, size and alpha.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from .images import alpha_extremes

REPO = Path(__file__).resolve().parent.parent

# file name -> (Pillow format, size, mode)
EXPECTED = {
    "hero-desktop-1.png": ("PNG", (1536, 1024), "RGB"),
    "hero-desktop-2.png": ("PNG", (1536, 1024), "RGB"),
    "hero-mobile-1.jpeg": ("JPEG", (1024, 1536), "RGB"),
    "hero-preview-1.webp": ("WEBP", (1024, 1024), "RGB"),
    "app-icon-1.png": ("PNG", (1024, 1024), "RGBA"),
}


def check_hero_images(out: Path, stdout: str) -> None:
    """What either hero_images example must leave in `out` and say on stdout."""
    assert sorted(p.name for p in out.iterdir()) == sorted(EXPECTED), stdout
    for name, (fmt, size, mode) in EXPECTED.items():
        path = out / name
        assert f"saved {path}" in stdout or f"saved {os.path.relpath(path)}" in stdout, (name, stdout)
        with Image.open(path) as image:
            image.load()
            assert (image.format, image.size, image.mode) == (fmt, size, mode), name
            if mode == "RGBA":
                transparent, opaque = alpha_extremes(image)
                assert transparent > 0 and opaque > 0, f"{name} should be a cut-out"
    desktop = [(out / f"hero-desktop-{i}.png").read_bytes() for i in (1, 2)]
    assert hashlib.sha256(desktop[0]).digest() != hashlib.sha256(desktop[1]).digest(), "n=2 gave the same image twice"
    assert "1536x1024, high quality, opaque background" in stdout
    assert "1024x1024, medium quality, transparent background" in stdout
    assert "usage:" in stdout


def test_python_example_writes_hero_images(server, tmp_path):
    out = tmp_path / "hero-images"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DARKROOM_"))}
    env.update(OPENAI_BASE_URL=server.v1, OPENAI_API_KEY=server.api_key)
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "hero_images.py"), str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n--- server log ---\n{server.log()[-4000:]}"
    check_hero_images(out, proc.stdout)
