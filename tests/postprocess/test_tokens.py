from __future__ import annotations

import pytest

from darkroom.postprocess.tokens import generation_usage, image_tokens, text_tokens


@pytest.mark.parametrize("quality, size, tokens", [
    ("low", (1024, 1024), 272), ("low", (1024, 1536), 408), ("low", (1536, 1024), 400),
    ("medium", (1024, 1024), 1056), ("medium", (1024, 1536), 1584), ("medium", (1536, 1024), 1568),
    ("high", (1024, 1024), 4160), ("high", (1024, 1536), 6240), ("high", (1536, 1024), 6208),
])
def test_gpt_image_table(quality, size, tokens):
    assert image_tokens("gpt-image", quality, *size) == tokens


@pytest.mark.parametrize("quality, size, tokens", [
    ("high", (1024, 1024), 7024), ("high", (1536, 1024), 5488), ("high", (1792, 1024), 5063),
    ("high", (3584, 2048), 12329), ("low", (960, 720), 130), ("low", (1024, 1024), 196),
    ("medium", (1024, 1024), 1756), ("low", (3840, 2160), 371), ("medium", (3840, 2160), 3336),
    ("high", (3840, 2160), 13342),
])
def test_gpt_image_2_calculator_values(quality, size, tokens):
    assert image_tokens("gpt-image-2", quality, *size) == tokens


def test_text_token_approximation():
    assert text_tokens("") == 0
    assert text_tokens("hero image for a todo app") == 6
    assert text_tokens("internationalization") == 3  # 20 letters: one token per started 8
    assert text_tokens("1024, 2026!") == 6  # two digit runs of 2 tokens, "," and "!" one each
    assert text_tokens("wait...!?") == 2  # a punctuation run is one token
    assert text_tokens("日本") == 2


def test_usage_totals():
    usage = generation_usage("gpt-image", "low", 1024, 1024, 3, "a todo app")
    assert usage.output_tokens == 3 * 272 == usage.output_tokens_details.image_tokens
    assert usage.input_tokens == usage.input_tokens_details.text_tokens == 3
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
