from __future__ import annotations

import pytest

from darkroom.moderation import check_prompt


@pytest.mark.parametrize("prompt", ["A cheerful hero image for a todo app", "children playing in a park",
                                    "a sunset over the sea", "a kid flying a kite"])
def test_ordinary_prompts_pass(prompt):
    assert check_prompt(prompt, "auto") == [] and check_prompt(prompt, "low") == []


@pytest.mark.parametrize("prompt, auto, low", [
    ("a nude figure study", ["sexual"], []),
    ("explicit pornographic scene", ["sexual"], ["sexual"]),
    ("a gory battlefield", ["violence-graphic"], []),
    ("a decapitated body", ["violence-graphic"], ["violence-graphic"]),
    ("a suicide note", ["self-harm"], []),
])
def test_levels(prompt, auto, low):
    assert check_prompt(prompt, "auto") == auto
    assert check_prompt(prompt, "low") == low


@pytest.mark.parametrize("prompt", ["a naked child", "NUDE TEENS", "erotic schoolgirl"])
def test_minors_and_sexual_content_blocked_at_every_level(prompt):
    assert "sexual/minors" in check_prompt(prompt, "low")
    assert "sexual/minors" in check_prompt(prompt, "auto")
