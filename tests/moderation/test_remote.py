"""OpenAI's moderation endpoint as a second opinion: the client and the policy, against a fake over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from darkroom.config import DEFAULT_MODERATION, ModerationThresholds
from darkroom.errors import ServiceUnavailable
from darkroom.moderation import Moderator
from darkroom.moderation.remote import RemoteModeration, RemoteUnavailable

from .fake_openai import FakeModeration

POOL = ThreadPoolExecutor(2)
PLAIN = np.full((64, 64, 3), 200, np.uint8)


@pytest.fixture(scope="module")
def fake():
    with FakeModeration(slow_seconds=2.0) as fake:
        yield fake


def moderator(fake: FakeModeration, on_error: str = "block", timeout: float = 1.0, **levels) -> Moderator:
    thresholds = {**DEFAULT_MODERATION, **levels}
    remote = RemoteModeration("sk-moderation-test", fake.base_url, "omni-moderation-latest", timeout)
    return Moderator(thresholds, remote=remote, on_remote_error=on_error)


async def test_scores_come_back_per_category_with_the_key_and_model(fake):
    remote = RemoteModeration("sk-moderation-test", fake.base_url, "omni-moderation-latest", 1.0)
    scores = await remote.text("a poster FLAG:violence SCORE:hate:0.3")
    await remote.close()
    assert scores["violence"] == (True, 0.9) and scores["hate"] == (False, 0.3)
    assert fake.calls[-1] == {"model": "omni-moderation-latest", "input": "a poster FLAG:violence SCORE:hate:0.3"}
    assert fake.api_keys[-1] == "Bearer sk-moderation-test"


@pytest.mark.parametrize("prompt, reason", [("FAIL", "HTTP 500"), ("SLOW", "no answer within 0.3 s")])
async def test_failures_are_remote_unavailable(fake, prompt, reason):
    remote = RemoteModeration("k", fake.base_url, "omni-moderation-latest", 0.3)
    with pytest.raises(RemoteUnavailable, match=reason):
        await remote.text(prompt)
    await remote.close()


async def test_an_unreachable_endpoint_is_remote_unavailable():
    remote = RemoteModeration("k", "http://127.0.0.1:9/v1", "omni-moderation-latest", 0.5)
    with pytest.raises(RemoteUnavailable):
        await remote.text("hello")
    await remote.close()


async def test_openais_flags_decide_at_auto_and_the_low_threshold_at_low(fake):
    mod = moderator(fake)
    assert await mod.check_prompt("a poster FLAG:violence:0.6", "auto", POOL) == ["violence"]
    assert await mod.check_prompt("a poster FLAG:violence:0.6", "low", POOL) == []  # 0.6 < low's 0.8
    assert await mod.check_prompt("a poster FLAG:violence", "low", POOL) == ["violence"]  # 0.9
    await mod.close()


async def test_a_high_unflagged_score_blocks_at_low_and_so_at_auto(fake):
    mod = moderator(fake)
    prompt = "a poster SCORE:hate:0.85"  # over low's 0.8, and OpenAI did not flag it
    assert await mod.check_prompt(prompt, "low", POOL) == ["hate"]
    assert await mod.check_prompt(prompt, "auto", POOL) == ["hate"]
    assert await mod.check_prompt("a poster SCORE:hate:0.5", "low", POOL) == []
    await mod.close()


async def test_sexual_minors_blocks_at_every_level(fake):
    mod = moderator(fake)
    assert "sexual/minors" in await mod.check_prompt("a picture FLAG:sexual/minors", "low", POOL)
    await mod.close()


async def test_local_and_remote_categories_are_merged(fake):
    mod = moderator(fake)
    assert await mod.check_prompt("a gory scene FLAG:illicit", "auto", POOL) == ["violence/graphic", "illicit"]
    await mod.close()


async def test_images_go_as_jpeg_data_urls(fake):
    mod = moderator(fake)
    fake.image_verdict = {"violence/graphic": (True, 0.97)}
    try:
        assert await mod.check_images([PLAIN, PLAIN], "auto", "a plain picture", POOL) == ["violence/graphic"]
    finally:
        fake.image_verdict = {}
    assert await mod.check_images([PLAIN], "auto", "a plain picture", POOL) == []
    await mod.close()


async def test_fail_closed_is_a_503_and_fail_open_lets_the_local_checks_decide(fake):
    closed = moderator(fake, on_error="block", timeout=0.3)
    with pytest.raises(ServiceUnavailable) as info:
        await closed.check_prompt("a todo app SLOW", "auto", POOL)
    assert info.value.code == "moderation_unavailable" and info.value.headers["Retry-After"]
    opened = moderator(fake, on_error="allow", timeout=0.3)
    assert await opened.check_prompt("a todo app FAIL", "auto", POOL) == []
    assert await opened.check_prompt("a gory scene FAIL", "auto", POOL) == ["violence/graphic"]
    await closed.close()
    await opened.close()


async def test_explicit_thresholds_replace_openais_flags(fake):
    strict = ModerationThresholds(harassment=0.85, nudity=0.5, openai=0.2)
    mod = moderator(fake, auto=strict)
    assert await mod.check_prompt("a poster SCORE:harassment:0.3", "auto", POOL) == ["harassment"]
    await mod.close()


async def test_switched_off_checks_nothing(fake):
    mod = Moderator(dict(DEFAULT_MODERATION), enabled=False,
                    remote=RemoteModeration("k", fake.base_url, "omni-moderation-latest", 1.0))
    calls = len(fake.calls)
    assert await mod.check_prompt("a gory scene FLAG:violence", "auto", POOL) == []
    assert await mod.check_images([PLAIN], "auto", "x", POOL) == []
    assert len(fake.calls) == calls
    await mod.close()
