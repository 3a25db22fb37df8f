"""Hero images for a todo app, generated with the official `openai` Python SDK against Darkroom.

    pip install openai
    darkroom serve                       # in another terminal
    python examples/hero_images.py [OUTPUT_DIR]

The only Darkroom-specific thing here is the base URL: the same code runs against OpenAI's API.
OPENAI_BASE_URL (default http://127.0.0.1:8000/v1) and OPENAI_API_KEY (default "darkroom") choose
the server; images are written to OUTPUT_DIR (default ./hero-images).
"""

import base64
import os
import sys
from pathlib import Path

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("OPENAI_API_KEY", "darkroom"),
)

HERO = "A cheerful hero image for a todo app: a checklist card with ticked boxes, blue and orange, flat illustration"
ICON = "A todo app icon: a single white check mark on an orange rounded square, flat, centred"

# One entry per picture we want: a name for the files, and the Image API parameters for it.
SHOTS = {
    # Two candidates for the desktop landing page, in the best quality.
    "hero-desktop": dict(prompt=HERO, size="1536x1024", quality="high", n=2),
    # A portrait version for phones, as a JPEG at 85% to keep the page light.
    "hero-mobile": dict(prompt=HERO, size="1024x1536", quality="medium", output_format="jpeg", output_compression=85),
    # A quick, small WebP preview for the README.
    "hero-preview": dict(prompt=HERO, quality="low", output_format="webp", output_compression=50),
    # The app icon, cut out on a transparent background (PNG or WebP keep the alpha channel),
    # with the less restrictive moderation level.
    "app-icon": dict(prompt=ICON, size="1024x1024", background="transparent", output_format="png", moderation="low"),
}


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hero-images")
    out.mkdir(parents=True, exist_ok=True)

    for name, params in SHOTS.items():
        result = client.images.generate(model="gpt-image-1.5", **params)

        # GPT image models always answer with base64 data, one entry per image (n).
        for i, image in enumerate(result.data, start=1):
            path = out / f"{name}-{i}.{result.output_format}"
            path.write_bytes(base64.b64decode(image.b64_json))
            print(f"saved {path} ({result.size}, {result.quality} quality, {result.background} background, "
                  f"{path.stat().st_size:,} bytes)")

        if result.usage:  # what the call would cost on OpenAI, in tokens
            print(f"  usage: {result.usage.total_tokens} tokens")


if __name__ == "__main__":
    main()
