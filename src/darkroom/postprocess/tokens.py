"""`usage` figures for GPT image models, from the formulas in the spec's section 6.

Output image tokens per image:
    gpt-image (1, 1-mini, 1.5, chatgpt-image-latest): (H/p) * (W/p + 1), p = 64/32/16 for
        low/medium/high: reproduces OpenAI's published table (1024x1024: 272 / 1056 / 4160).
    gpt-image-2: the community-derived formula that reproduces OpenAI's calculator
        (1024x1024: 196 / 1756 / 7024).
Input text tokens: OpenAI counts with the o200k_base tokenizer, whose vocabulary cannot be
downloaded here, so Darkroom approximates it: a run of letters is one token per started 8 letters
(most English words are one token), a run of digits one token per 3 digits, each run of
punctuation one token, and every other character (CJK, emoji) one token. Output text tokens are 0.
Input image tokens (edits): OpenAI publishes no formula for image models, so Darkroom uses its
vision formula: the image scaled to fit 2048x2048, then its short side to 768, counted in 512-pixel
tiles, 85 + 170 per tile (1024x1024: 765). Generations and variations have no input image tokens.
"""

from __future__ import annotations

import math
import re

from ..protocol.images import InputTokensDetails, OutputTokensDetails, Usage

_PATCH = {"low": 64, "medium": 32, "high": 16}
_GPT2_FACTOR = {"low": 16, "medium": 48, "high": 96}
_PIECES = re.compile(r"[A-Za-z]+|[0-9]+|[!-/:-@\[-`{-~]+|[^\sA-Za-z0-9!-/:-@\[-`{-~]")


def image_tokens(family: str, quality: str, width: int, height: int) -> int:
    """Output tokens for one image of `width`x`height` at `quality` (low|medium|high)."""
    if family == "gpt-image-2":
        f = _GPT2_FACTOR[quality]
        long, short = max(width, height), min(width, height)
        s = (2 * f * short + long) // (2 * long)
        return (f * s * (2_000_000 + width * height) + 3_999_999) // 4_000_000
    p = _PATCH[quality]
    return math.ceil(height / p) * (math.ceil(width / p) + 1)


def text_tokens(text: str) -> int:
    """Approximate o200k_base token count (see the module docstring)."""
    count = 0
    for piece in _PIECES.findall(text):
        if piece[0].isascii() and piece[0].isalpha():
            count += math.ceil(len(piece) / 8)
        elif piece[0].isdigit():
            count += math.ceil(len(piece) / 3)
        else:
            count += 1
    return count


def input_image_tokens(width: int, height: int) -> int:
    """Input tokens for one uploaded image (see the module docstring)."""
    scale = min(1.0, 2048 / max(width, height))
    scale *= min(1.0, 768 / (min(width, height) * scale))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 85 + 170 * tiles


def generation_usage(family: str, quality: str, width: int, height: int, n: int, prompt: str,
                     inputs: tuple[tuple[int, int], ...] = ()) -> Usage:
    """The `usage` object of a response: `inputs` are the sizes of an edit's uploaded images."""
    text = text_tokens(prompt)
    images = sum(input_image_tokens(w, h) for w, h in inputs)
    output = image_tokens(family, quality, width, height) * n
    return Usage(
        input_tokens=text + images,
        input_tokens_details=InputTokensDetails(text_tokens=text, image_tokens=images),
        output_tokens=output,
        output_tokens_details=OutputTokensDetails(image_tokens=output, text_tokens=0),
        total_tokens=text + images + output,
    )
