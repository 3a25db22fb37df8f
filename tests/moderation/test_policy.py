"""Which moderation checks run, and which are skipped because they cannot change the verdict.

- the prompt's verdict is remembered per level, never served to another level; short prompts are
  checked on the event loop, long ones (and any before warm-up, which /health reports) in the pool;
- images are checked in one batch per call, on the moderator's own thread, wide only when no CPU
  engine computes;
- a procedural engine's generations skip the detector only while its ceiling is below every
  threshold that could block them (the level's, or auto's when the prompt names minors); edits,
  variations and engines without a ceiling are always checked: through in-process servers, with a
  detector that records its calls, for generations, streams with partials, edits and variations;
- `/v1/models` says so.
The output-stage tests with every image blocked are tests/test_sdk_python_moderation.py (unchanged).
"""

from __future__ import annotations

import dataclasses
import io
import threading
from concurrent.futures import Executor, ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from darkroom.api.app import create_app
from darkroom.catalog import Catalog, build_catalog
from darkroom.config import DEFAULT_MODERATION, ModerationThresholds, load_settings
from darkroom.engines.sketch import DETECTOR_CEILING, SketchEngine
from darkroom.moderation import INLINE_PROMPT_CHARS, Moderator, text
from darkroom.moderation.nudity import NudityDetector
from darkroom.moderation.verdicts import PromptVerdicts

from .pictures import nude_drawing
from .prompts import LABELLED

POOL = ThreadPoolExecutor(2)
# A labelled prompt that blocks at auto and not at low, and one that blocks at both.
AUTO_ONLY = next(item for item in LABELLED if item.auto and not item.low)
BOTH = next(item for item in LABELLED if item.low)


class NoPool(Executor):
    def submit(self, *args, **kwargs):
        raise AssertionError("the pool was used")


class RecordingDetector(NudityDetector):
    """The real detector, recording each call: (how many images, wide, thread name)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, bool, str]] = []

    def score_batch(self, images, wide=False):
        self.calls.append((len(images), wide, threading.current_thread().name))
        return super().score_batch(images, wide)


def moderator(warm: bool = True, **levels: ModerationThresholds) -> Moderator:
    """A moderator, warmed up as a server's is by the time /health says `ok` (unless `warm` is false)."""
    made = Moderator({**DEFAULT_MODERATION, **levels}, detector=RecordingDetector())
    if warm:
        made.warm_up()
    return made


# ---- prompts ----------------------------------------------------------------------------------------

async def test_a_remembered_verdict_is_never_served_to_another_level(monkeypatch):
    checked = []
    real = text.check_text
    monkeypatch.setattr(text, "check_text", lambda prompt, level, threshold: checked.append(level) or
                        real(prompt, level, threshold))
    for first, second in (("auto", "low"), ("low", "auto")):
        mod = moderator()
        checked.clear()
        for _ in range(3):
            assert await mod.check_prompt(AUTO_ONLY.prompt, first, NoPool()) == list(getattr(AUTO_ONLY, first))
            assert await mod.check_prompt(AUTO_ONLY.prompt, second, NoPool()) == list(getattr(AUTO_ONLY, second))
        assert sorted(checked) == ["auto", "low"]  # each level checked once, then remembered
        assert (mod.verdicts.hits, mod.verdicts.misses) == (4, 2)
    assert await mod.check_prompt(BOTH.prompt, "low", NoPool()) == list(BOTH.low)  # another prompt: its own


def test_verdicts_are_bounded_and_keyed_by_level_and_prompt():
    verdicts = PromptVerdicts(2)
    verdicts.put("a", "auto", ["hate"])
    verdicts.put("a", "low", [])
    assert verdicts.get("a", "auto") == ["hate"] and verdicts.get("a", "low") == []
    assert verdicts.get("A", "auto") is None and verdicts.get("a", "other") is None
    verdicts.put("b", "auto", [])  # the least recently used ("a" at auto) goes
    assert len(verdicts) == 2 and verdicts.get("a", "auto") is None and verdicts.get("a", "low") == []
    off = PromptVerdicts(0)
    off.put("a", "auto", [])
    assert off.get("a", "auto") is None


async def test_short_prompts_are_checked_inline_and_long_ones_in_the_pool():
    mod = moderator()
    assert await mod.check_prompt("a todo app hero image", "auto", NoPool()) == []
    long_prompt = "a calm lake at dawn " * (INLINE_PROMPT_CHARS // 20 + 1)
    with pytest.raises(AssertionError, match="the pool was used"):
        await mod.check_prompt(long_prompt, "auto", NoPool())
    assert await mod.check_prompt(long_prompt, "auto", POOL) == []
    assert await mod.check_prompt(long_prompt, "auto", NoPool()) == []  # remembered


async def test_before_warm_up_even_a_short_prompt_is_checked_in_the_pool():
    # The first check would wait ~1.5 s for the classifier: on the event loop, that stalls every request.
    cold = moderator(warm=False)
    assert cold.status == "loading"
    with pytest.raises(AssertionError, match="the pool was used"):
        await cold.check_prompt("a todo app hero image", "auto", NoPool())
    assert await cold.check_prompt("a todo app hero image", "auto", POOL) == []
    cold.warm_up()
    assert cold.status == "ready"
    assert await cold.check_prompt("a lighthouse at dusk", "auto", NoPool()) == []
    assert Moderator(dict(DEFAULT_MODERATION), enabled=False).status == "off"


@pytest.mark.parametrize("enabled", [True, False])
def test_health_is_ok_only_once_moderation_has_warmed_up(tmp_path, enabled):
    app = create_app(load_settings(data_dir=tmp_path, moderation_enabled=enabled))
    with TestClient(app) as client:
        for _ in range(200):
            response = client.get("/health")
            body = response.json()
            if response.status_code == 200:
                break
            assert (body["status"], body["moderation"]) == ("loading", "loading")
            threading.Event().wait(0.05)
        assert (response.status_code, body["status"]) == (200, "ok")
        assert body["moderation"] == ("ready" if enabled else "off")


def test_the_classifier_gives_the_packages_own_probabilities():
    from profanity_check import predict_prob

    from .classifier_prompts import ABUSE, CASUAL_PROFANITY, ORDINARY

    texts = [*ORDINARY, *CASUAL_PROFANITY, *ABUSE, *(item.prompt for item in LABELLED), "", "the and of it",
             "ÉCOLE Straße naïve CAFÉ", "you you you idiot idiot", "a" * 500]
    ours = text.AbuseClassifier.load().probabilities(texts)
    assert ours == pytest.approx(list(predict_prob(texts)), abs=1e-12)


# ---- images -------------------------------------------------------------------------------------------

async def test_the_images_of_a_call_are_checked_in_one_batch_on_moderations_thread():
    mod = moderator()
    images = [nude_drawing(256), np.zeros((64, 64, 3), np.uint8), np.zeros((64, 96, 4), np.uint8)]
    assert await mod.check_images(images, "auto", "a picture", POOL) == ["sexual"]
    assert await mod.check_images(images[1:], "auto", "a picture", POOL) == []
    assert [(n, thread.startswith("darkroom-moderation")) for n, _, thread in mod.detector.calls] == [(3, True),
                                                                                                     (2, True)]


async def test_the_detector_leaves_the_cores_to_a_busy_cpu_engine():
    mod = moderator()
    busy = [False]
    mod.engines_busy = lambda: busy[0]
    await mod.check_images([nude_drawing(128)], "auto", "x", POOL)
    busy[0] = True
    await mod.check_images([nude_drawing(128)], "auto", "x", POOL)
    assert [wide for _, wide, _ in mod.detector.calls] == [True, False]


@pytest.mark.parametrize(("levels", "level", "prompt", "runs"), [
    ({}, "auto", "a hero image", False),                    # 0.5 < 0.6
    ({}, "low", "a hero image", False),                     # 0.5 < 0.8
    ({}, "low", "a hero image of a child", False),          # minors: auto's 0.6 decides, still above
    ({"auto": ModerationThresholds(harassment=0.85, nudity=0.5)}, "auto", "a hero image", True),  # 0.5 blocks
    ({"auto": ModerationThresholds(harassment=0.85, nudity=0.4)}, "low", "a hero image", False),  # low's 0.8
    ({"auto": ModerationThresholds(harassment=0.85, nudity=0.4)}, "low", "a hero image of a child", True),
    ({"low": ModerationThresholds(harassment=0.97, nudity=0.45)}, "low", "a hero image", True),
])
async def test_a_ceiling_skips_the_detector_only_below_every_threshold_that_could_block(levels, level, prompt,
                                                                                        runs):
    mod = moderator(**levels)
    drawing = nude_drawing(256)  # were the ceiling wrong, this is what it would let through
    found = await mod.check_images([drawing], level, prompt, POOL, ceiling=DETECTOR_CEILING)
    assert bool(mod.detector.calls) == runs
    assert bool(found) == runs
    assert await mod.check_images([drawing], level, prompt, POOL) != []  # no ceiling: always checked


async def test_openais_endpoint_still_sees_images_the_detector_skips():
    seen = []

    class Remote:
        async def image(self, jpeg: bytes):
            seen.append(jpeg[:2])
            return {"violence/graphic": (True, 0.9)}

    mod = moderator()
    mod.remote = Remote()
    found = await mod.check_images([np.zeros((64, 64, 3), np.uint8)], "auto", "x", POOL, ceiling=DETECTOR_CEILING)
    assert found == ["violence/graphic"] and seen == [b"\xff\xd8"] and mod.detector.calls == []


# ---- through a server ------------------------------------------------------------------------------------

class UnboundedEngine(SketchEngine):
    """The sketch engine's drawings, declared without a ceiling: what any model engine is."""

    name = "unbounded"
    capabilities = dataclasses.replace(SketchEngine.capabilities, detector_ceiling=None)


def _client(tmp_path_factory, **settings_overrides):
    settings = load_settings(data_dir=tmp_path_factory.mktemp("policy"), **settings_overrides)
    specs = {spec.name: spec for spec in build_catalog(settings)}
    engine = UnboundedEngine()
    engine.load()
    specs["unbounded"] = dataclasses.replace(specs["gpt-image-1"], name="unbounded", engine=engine,
                                             engine_name="unbounded")
    return TestClient(create_app(settings, Catalog(specs)))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with _client(tmp_path_factory) as c:
        c.app.state.service.moderator.detector = RecordingDetector()
        yield c


@pytest.fixture()
def calls(client) -> list[tuple[int, bool, str]]:
    recorded = client.app.state.service.moderator.detector.calls
    recorded.clear()
    return recorded


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _stream_events(response) -> list[str]:
    return [line.split(":", 1)[1].strip() for line in response.text.splitlines() if line.startswith("event:")]


GENERATE = {"prompt": "a todo app hero image", "size": "1024x1024", "quality": "low"}


def test_sketch_generations_run_no_detector(client, calls):
    response = client.post("/v1/images/generations", json={"model": "gpt-image-1", "n": 2, **GENERATE})
    assert response.status_code == 200 and len(response.json()["data"]) == 2
    streamed = client.post("/v1/images/generations", json={"model": "gpt-image-1", "stream": True,
                                                            "partial_images": 2, **GENERATE})
    assert _stream_events(streamed).count("image_generation.partial_image") == 2
    assert calls == []


def test_an_engine_without_a_ceiling_has_every_output_checked_in_one_batch(client, calls):
    response = client.post("/v1/images/generations", json={"model": "unbounded", "n": 3, **GENERATE})
    assert response.status_code == 200
    assert [n for n, _, _ in calls] == [3]
    calls.clear()
    streamed = client.post("/v1/images/generations", json={"model": "unbounded", "stream": True,
                                                            "partial_images": 2, **GENERATE})
    assert _stream_events(streamed).count("image_generation.partial_image") == 2
    assert [n for n, _, _ in calls] == [1, 1, 1]  # each partial, then the final


def test_sketch_edits_and_variations_are_checked_at_input_and_output(client, calls):
    picture = _png(np.full((256, 256, 3), 180, np.uint8))
    edit = client.post("/v1/images/edits", data={"model": "gpt-image-1", "prompt": "add a checklist",
                                                  "quality": "low", "n": "2"},
                       files=[("image[]", ("a.png", picture, "image/png")), ("image[]", ("b.png", picture, "image/png"))])
    assert edit.status_code == 200, edit.text
    assert [n for n, _, _ in calls] == [2, 2]  # both inputs, then both outputs
    calls.clear()
    variation = client.post("/v1/images/variations", data={"model": "dall-e-2", "size": "256x256",
                                                            "response_format": "b64_json"},
                            files={"image": ("a.png", picture, "image/png")})
    assert variation.status_code == 200, variation.text
    assert [n for n, _, _ in calls] == [1, 1]


def test_a_sketch_edit_of_nudity_is_blocked_at_its_input_even_at_low(client, calls):
    edit = client.post("/v1/images/edits", data={"model": "gpt-image-1", "prompt": "restyle", "moderation": "low"},
                       files={"image": ("n.png", _png(nude_drawing(512)), "image/png")})
    assert edit.status_code == 400 and edit.json()["error"]["code"] == "moderation_blocked"
    assert edit.json()["error"]["moderation_details"]["moderation_stage"] == "input"


def test_models_say_which_checks_run(client):
    models = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    sketch, unbounded = models["gpt-image-1"]["moderation"], models["unbounded"]["moderation"]
    assert sketch["by"] == "darkroom" and sketch["detector_ceiling"] == DETECTOR_CEILING
    assert "generations not run through the nudity detector at auto and low" in sketch["output_images"]
    assert "procedural" in sketch["reason"]
    assert unbounded == {"by": "darkroom", "prompts": "checked", "input_images": "checked", "output_images": "checked"}


def test_a_threshold_at_or_below_the_ceiling_checks_sketch_generations_again(tmp_path_factory):
    strict = {"harassment": 0.85, "nudity": DETECTOR_CEILING}
    with _client(tmp_path_factory, moderation_auto=strict) as c:
        detector = c.app.state.service.moderator.detector = RecordingDetector()
        assert c.post("/v1/images/generations", json={"model": "gpt-image-1", **GENERATE}).status_code == 200
        assert c.post("/v1/images/generations", json={"model": "gpt-image-1", "moderation": "low",
                                                      **GENERATE}).status_code == 200
        assert [n for n, _, _ in detector.calls] == [1]  # auto checks; low (0.8) still cannot be reached
        described = c.get("/v1/models/gpt-image-1").json()["moderation"]
        assert "at low" in described["output_images"] and "auto" not in described["output_images"]


def test_moderation_switched_off_is_shown(tmp_path_factory):
    with _client(tmp_path_factory, moderation_enabled=False) as c:
        assert c.get("/v1/models/gpt-image-1").json()["moderation"] == {"by": "nobody"}


def test_the_detector_runs_on_moderations_own_thread_in_a_server(client, calls):
    client.post("/v1/images/generations", json={"model": "unbounded", **GENERATE})
    assert calls and all(thread.startswith("darkroom-moderation") for _, _, thread in calls)
