"""Costs from usage, checked against prices worked out by hand from the table."""

from __future__ import annotations

import pytest

from darkroom.catalog import OPENAI_MODELS
from darkroom.config import ConfigError
from darkroom.pricing import ModelPrice, PriceTable, cost_usd

TABLE = PriceTable.load()


def usage(text_in=0, image_in=0, image_out=0, text_out=0, cached=None):
    details = {"text_tokens": text_in, "image_tokens": image_in}
    if cached is not None:
        details["cached_tokens"] = cached
    return {"input_tokens": text_in + image_in, "input_tokens_details": details,
            "output_tokens": image_out + text_out,
            "output_tokens_details": {"image_tokens": image_out, "text_tokens": text_out},
            "total_tokens": text_in + image_in + image_out + text_out}


def cost(model, u=None, images=1, quality=None, size=None):
    return cost_usd(TABLE.get(model), u, images=images, quality=quality, size=size)


def test_gpt_image_1_medium_square():
    # 20 text tokens at $5/M + 1056 image output tokens at $40/M = 100 + 42240 micro-dollars
    assert cost("gpt-image-1", usage(text_in=20, image_out=1056)) == 0.04234


def test_image_input_is_priced_as_image_not_text():
    # an edit: 30 text tokens at $5/M (150) + 765 input image tokens at $10/M (7650) + 272 output at $40/M (10880)
    assert cost("gpt-image-1", usage(text_in=30, image_in=765, image_out=272)) == 0.01868
    assert cost("gpt-image-1", usage(text_in=795, image_out=272)) == 0.014855  # the same tokens priced as text


def test_gpt_image_1_5_text_output_and_cached_input():
    # 100 text tokens of which 40 cached: 60*$5 + 40*$1.25 = 350; 4160 image out * $32 = 133120; 10 text out * $10
    assert cost("gpt-image-1.5", usage(text_in=100, image_out=4160, text_out=10, cached=40)) == 0.13357


def test_cached_tokens_beyond_the_text_are_cached_image_tokens():
    # gpt-image-1: 50 text tokens, 1000 image tokens, 250 cached: all 50 text cached (50*$1.25 = 62.5),
    # 200 image cached (200*$2.50 = 500), 800 image at $10 (8000); 272 out at $40 (10880) -> 19442.5 -> 19442
    assert cost("gpt-image-1", usage(text_in=50, image_in=1000, image_out=272, cached=250)) == 0.019442


def test_a_cached_split_is_used_as_given():
    u = usage(text_in=50, image_in=1000, image_out=272, cached=250)
    u["input_tokens_details"]["cached_tokens_details"] = {"text_tokens": 0, "image_tokens": 250}
    # 50*$5 (250) + 250*$2.50 (625) + 750*$10 (7500) + 272*$40 (10880)
    assert cost("gpt-image-1", u) == 0.019255


def test_usage_without_details():
    # no details: input tokens are text, output tokens are image
    bare = {"input_tokens": 20, "output_tokens": 1056, "total_tokens": 1076}
    assert cost("gpt-image-1", bare) == 0.04234


def test_micro_dollar_rounding_is_half_even():
    # 1 cached text token of gpt-image-1-mini: $0.20/M = 0.2 micro-dollars: rounds to 0
    assert cost("gpt-image-1-mini", usage(text_in=1, cached=1)) == 0.0
    # 3 of them: 0.6 micro-dollars -> 1
    assert cost("gpt-image-1-mini", usage(text_in=3, cached=3)) == 0.000001


def test_dall_e_per_image():
    assert cost("dall-e-3", None, images=1, quality="hd", size="1792x1024") == 0.12
    assert cost("dall-e-3", None, images=1, quality="standard", size="1024x1024") == 0.04
    assert cost("dall-e-2", None, images=3, quality="standard", size="512x512") == 0.054
    assert cost("dall-e-2", None, images=1, size="333x333") is None  # no price for that size: unknown
    assert cost("dall-e-3", None, images=1, quality=None, size="1024x1024") == 0.04  # the default: standard
    assert cost("gpt-image-1", None, images=1, quality="auto", size="1024x1536") == 0.063  # auto: medium


def test_per_image_only_without_usage():
    assert cost("gpt-image-1", None, images=2, quality="medium", size="1024x1024") == 0.084
    assert cost("gpt-image-1", usage(image_out=1), images=2, quality="medium", size="1024x1024") == 0.00004


def test_a_model_priced_only_per_image_is_priced_per_image_even_with_usage():
    flat = ModelPrice(per_image=0.002)
    assert cost_usd(flat, usage(text_in=9, image_out=1056), images=3, quality="high", size="1024x1024") == 0.006
    by_size = ModelPrice(per_image={"512x512": 0.001})
    assert cost_usd(by_size, usage(image_out=5), images=1, quality=None, size="1024x1024") is None


def test_unknown_models_and_unpriced_token_kinds_are_unknown_never_zero():
    assert cost("no-such-model", usage(image_out=100)) is None
    assert cost("gpt-image-1", usage(image_out=100, text_out=5)) is None  # no text output price for it
    assert cost("gpt-image-2", None, images=1, quality="low", size="1024x1024") is None  # no per-image price
    free = ModelPrice(text_input=0, image_output=0)
    assert cost_usd(free, usage(text_in=5, image_out=9), images=1, quality=None, size=None) == 0.0


def test_every_openai_image_model_has_a_price():
    for name in OPENAI_MODELS:
        assert TABLE.get(name) is not None, name


def test_a_dated_snapshot_costs_what_its_model_costs():
    u = usage(text_in=40, image_in=500, image_out=7024, text_out=3, cached=10)
    assert cost("gpt-image-2-2026-04-21", u) == cost("gpt-image-2", u) is not None
    assert cost("chatgpt-image-latest", u) == cost("gpt-image-1.5", u) is not None


@pytest.mark.parametrize("text, message", [
    ('[models."x"]\ntext_input = -1\n', "text_input"),
    ('[models."x"]\nbogus = 1\n', "bogus"),
    ('[models."x"\n', "cannot be read"),
])
def test_bad_price_files_are_refused(tmp_path, text, message):
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        PriceTable.load(path)
