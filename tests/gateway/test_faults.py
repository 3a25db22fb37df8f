"""A live gateway in front of upstreams that misbehave (`faulty.py`): each fault gets the right status and
envelope, retries happen only where they cannot bill twice, routes fall back only when a target did no
work, breakers open, and the upstream key never shows. Also an Azure-shaped upstream."""

from __future__ import annotations

import json
import re
import time

import httpx
import openai
import pytest

from ..conftest import start_server, stop_server
from .faulty import AZURE_IMAGE_FILTERED, AZURE_PROMPT_FILTERED, USAGE, FaultyUpstream, MidStream, Slow, Status

SECRET = "sk-faulty-upstream-secret-42"
AZURE_SECRET = "azure-api-key-secret-99"
KEY = "sk-gateway-faults"
GEN = "/v1/images/generations"


def model(name: str, base_url: str, **options) -> str:
    lines = [f'[[models]]\nname = "{name}"\nengine = "upstream"\nfamily = "gpt-image"\nbase_url = "{base_url}"']
    lines += [f"{k} = {json.dumps(v) if not isinstance(v, dict) else _table(v)}" for k, v in options.items()]
    return "\n".join(lines) + "\n"


def _table(values: dict) -> str:
    return "{ " + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in values.items()) + " }"


@pytest.fixture(scope="module")
def fake():
    with FaultyUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def azure():
    with FaultyUpstream(azure=True, api_key=AZURE_SECRET, deployment="img-deploy") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake, azure):
    v1 = f"{fake.base_url}/v1"
    quick = dict(api_key_env="FAULTY_KEY", retry_backoff_seconds=0.01, prices="gpt-image-1")
    config = f'api_keys = ["{KEY}"]\n' + "".join([
        # many failures in a row come from these tests: the breaker is tested on `breaky` alone
        model("strict", v1, max_retries=0, headers={"X-Team": "imaging"}, breaker_failures=1000, **quick),
        model("flaky", v1, max_retries=2, **quick),
        model("repeatable", v1, max_retries=1, safe_to_repeat=True, **quick),
        model("quick", v1, max_retries=2, timeout_seconds=1, **quick),
        model("breaky", v1, max_retries=0, breaker_failures=2, breaker_cooldown_seconds=600, **quick),
        model("azure-deploy", azure.base_url, kind="azure", api_key_env="AZURE_KEY", api_version="2025-04-01-preview",
              deployment="img-deploy", prices="gpt-image-1"),
        model("azure-v1", f"{azure.base_url}/openai/v1", kind="azure", api_key_env="AZURE_KEY",
              upstream_model="img-deploy", prices="gpt-image-1"),
        model("azure-wrong-key", azure.base_url, kind="azure", api_key_env="FAULTY_KEY",
              api_version="2025-04-01-preview", deployment="img-deploy"),
        '[[models]]\nname = "to-local"\ntargets = ["strict", "gpt-image-1.5"]\n',
        '[[models]]\nname = "after-stall"\ntargets = ["quick", "gpt-image-1.5"]\n',
        '[[models]]\nname = "to-repeatable"\ntargets = ["repeatable", "gpt-image-1.5"]\n',
        '[[models]]\nname = "broken-route"\ntargets = ["breaky", "gpt-image-1.5"]\n',
    ])
    live = start_server(tmp_path_factory.mktemp("faults"), config, api_key=KEY,
                        env={"FAULTY_KEY": SECRET, "AZURE_KEY": AZURE_SECRET})
    yield live
    alive = live.process.poll() is None
    stop_server(live)
    assert alive, live.log()
    for text in (live.log(),):
        assert SECRET not in text and AZURE_SECRET not in text


@pytest.fixture()
def client(gateway, fake, azure):
    fake.reset()
    azure.reset()
    with openai.OpenAI(base_url=gateway.v1, api_key=KEY, max_retries=0, timeout=30) as c:
        yield c


def test_ok_and_what_goes_upstream(client, fake):
    raw = client.images.with_raw_response.generate(model="strict", prompt="a cat", n=2, quality="low",
                                                   extra_headers={"OpenAI-Organization": "org-x"})
    assert len(raw.parse().data) == 2 and raw.parse().usage.output_tokens == USAGE["output_tokens"]
    assert raw.headers["x-darkroom-upstream-request-id"] == "up_200"
    [call] = fake.calls
    assert call.path == GEN and call.json() == {"model": "strict", "prompt": "a cat", "n": 2, "quality": "low"}
    assert call.headers["authorization"] == f"Bearer {SECRET}"  # the gateway's own upstream key
    assert call.headers["x-team"] == "imaging"
    assert not [h for h in call.headers if h.startswith("x-stainless") or h == "openai-organization"]
    assert KEY not in json.dumps(call.headers)  # never the client's own key
    assert SECRET not in raw.text and SECRET not in json.dumps(dict(raw.headers))


def test_an_upstream_500_passes_through_and_is_not_retried(client, fake):
    fake.script(Status(500, {"message": "The server had an error.", "type": "server_error", "param": None,
                             "code": "internal_error"}))
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="flaky", prompt="a cat")
    assert (caught.value.status_code, caught.value.body["message"], caught.value.code) == (
        500, "The server had an error.", "internal_error")
    assert caught.value.response.headers["x-request-id"].startswith("req_")
    assert fake.count(GEN) == 1  # a 5xx may have done the work: never repeated unless safe


def test_a_429_is_retried_with_its_retry_after_then_passed_on(client, fake):
    fake.script(Status(429, {"message": "Rate limit reached.", "type": "requests", "param": None,
                             "code": "rate_limit_exceeded"}, headers={"Retry-After": "0"}), "ok")
    client.images.generate(model="flaky", prompt="a cat")
    assert fake.count(GEN) == 2
    fake.reset()
    fake.script(Status(429, {"message": "Rate limit reached.", "type": "requests", "param": None,
                             "code": "rate_limit_exceeded"}, headers={"Retry-After": "7"}))
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(model="strict", prompt="a cat")
    assert caught.value.code == "rate_limit_exceeded" and caught.value.response.headers["retry-after"] == "7"
    assert fake.count(GEN) == 1


def test_an_upstream_400_keeps_every_field(client, fake):
    error = {"message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
             "param": None, "code": "moderation_blocked",
             "moderation_details": {"moderation_stage": "input", "categories": ["violence"]}}
    fake.script(Status(400, error))
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="flaky", prompt="a cat")
    assert caught.value.body == error and fake.count(GEN) == 1


@pytest.mark.parametrize("step, status, code", [
    ("malformed", 502, "upstream_invalid_response"),
    ("html", 502, "upstream_error"),
    ("empty", 502, "upstream_empty_response"),
    ("drop", 502, "upstream_disconnected"),
])
def test_answers_that_are_not_the_image_api(client, fake, step, status, code):
    fake.script(step)
    response = httpx.post(f"{client.base_url}images/generations", json={"model": "strict", "prompt": "a cat"},
                          headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response.json()["error"]["code"] == code
    assert response.headers["x-request-id"].startswith("req_")


def test_a_stalled_upstream_is_a_504_called_once_and_never_fallen_back_from(client, fake):
    fake.script("stall")
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model="after-stall", prompt="a cat")  # quick: 1 s timeout, 2 retries allowed
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")
    assert fake.count(GEN) == 1  # accepted, then silent: it may be working, so never asked again


def test_a_slow_upstream_within_its_timeout_is_fine(client, fake):
    fake.script(Slow(0.3))
    assert client.images.generate(model="quick", prompt="a cat").data


@pytest.mark.parametrize("step", [
    Status(503, {"message": "Overloaded.", "type": "server_error", "param": None, "code": "server_overloaded"}),
    Status(429, {"message": "Slow down.", "type": "requests", "param": None, "code": "rate_limit_exceeded"}),
    "empty",
])
def test_a_route_falls_back_when_the_upstream_did_no_work(client, fake, step):
    fake.script(step)
    raw = client.images.with_raw_response.generate(model="to-local", prompt="a cat", quality="low")
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1.5"
    assert fake.count(GEN) == 1


@pytest.mark.parametrize("step", [
    Status(500, {"message": "oops", "type": "server_error", "param": None, "code": None}), "drop"])
def test_a_route_does_not_fall_back_after_an_ambiguous_failure(client, fake, step):
    fake.script(step)
    with pytest.raises(openai.APIStatusError):
        client.images.generate(model="to-local", prompt="a cat")
    assert fake.count(GEN) == 1


def test_a_route_never_falls_back_on_the_clients_own_400(client, fake):
    fake.script(Status(400, {"message": "Invalid prompt.", "type": "invalid_request_error", "param": "prompt",
                             "code": "invalid_value"}))
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="to-local", prompt="a cat")
    assert fake.count(GEN) == 1


def test_safe_to_repeat_targets_are_retried_and_fallen_back_from(client, fake):
    failure = Status(500, {"message": "oops", "type": "server_error", "param": None, "code": None})
    fake.script(failure, "ok")
    client.images.generate(model="repeatable", prompt="a cat")  # retried once: safe to repeat
    assert fake.count(GEN) == 2
    fake.reset()
    fake.script(failure, failure)
    raw = client.images.with_raw_response.generate(model="to-repeatable", prompt="a cat", quality="low")
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1.5" and fake.count(GEN) == 2


def test_the_breaker_opens_and_the_route_skips_the_target(client, fake, gateway):
    busy = Status(503, {"message": "Overloaded.", "type": "server_error", "param": None, "code": None})
    fake.script(busy, busy)
    for _ in range(2):
        assert client.images.with_raw_response.generate(
            model="broken-route", prompt="a cat", quality="low").headers["x-darkroom-served-by"] == "gpt-image-1.5"
    assert fake.count(GEN) == 2
    raw = client.images.with_raw_response.generate(model="broken-route", prompt="a cat", quality="low")
    assert raw.headers["x-darkroom-served-by"] == "gpt-image-1.5"
    assert fake.count(GEN) == 2  # skipped: its breaker is open
    health = httpx.get(f"{gateway.base_url}/health").json()
    assert health["targets"]["breaky"]["state"] == "open" and health["status"] == "ok"
    metrics = httpx.get(f"{gateway.base_url}/metrics").text
    assert re.search(r'darkroom_target_breaker_open\{target="breaky"\} 1\.0', metrics)
    assert SECRET not in metrics


def test_a_stream_relays_each_event_and_its_break_is_an_error_event(client, fake):
    events = list(client.images.generate(model="strict", prompt="a cat", stream=True, partial_images=2))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert json.loads(fake.calls[0].body)["stream"] is True
    fake.script(MidStream(1))
    received = []
    with pytest.raises(openai.APIError) as caught:
        for event in client.images.generate(model="strict", prompt="a cat", stream=True, partial_images=2):
            received.append(event.type)
    assert received == ["image_generation.partial_image"]
    assert "ended before its final image" in caught.value.message


def test_a_client_that_leaves_a_stream_closes_the_upstream_request(client, fake):
    fake.script(MidStream(1, then="stall"))
    stream = client.images.generate(model="strict", prompt="a cat", stream=True, partial_images=2)
    assert next(iter(stream)).type == "image_generation.partial_image"
    stream.close()  # the client goes away mid-stream
    for _ in range(100):  # the gateway closes its upstream request at once; give it 5 s at most
        if fake.disconnects:
            break
        time.sleep(0.05)
    assert fake.disconnects == 1


def test_azure_deployment_path(client, azure):
    raw = client.images.with_raw_response.generate(model="azure-deploy", prompt="a cat", quality="low")
    assert raw.parse().data[0].b64_json
    [call] = azure.calls
    assert call.path == "/openai/deployments/img-deploy/images/generations"
    assert call.query == {"api-version": "2025-04-01-preview"}
    assert call.headers["api-key"] == AZURE_SECRET and "authorization" not in call.headers
    assert "model" not in call.json()


def test_azure_v1_path_sends_the_model(client, azure):
    client.images.generate(model="azure-v1", prompt="a cat")
    [call] = azure.calls
    assert call.path == "/openai/v1/images/generations" and call.json()["model"] == "img-deploy"


def test_azure_refuses_webp_before_any_call(client, azure):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="azure-deploy", prompt="a cat", output_format="webp")
    assert caught.value.param == "output_format" and "Azure" in caught.value.message
    assert not azure.calls


@pytest.mark.parametrize("shape, stage, categories", [
    (AZURE_PROMPT_FILTERED, "input", ["sexual"]),
    (AZURE_IMAGE_FILTERED, "output", ["violence"]),
])
def test_azure_content_filters_become_moderation_blocked(client, azure, shape, stage, categories):
    azure.script(Status(400, body=shape))
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="azure-deploy", prompt="a cat")
    body = caught.value.body
    assert (caught.value.type, caught.value.code) == ("image_generation_user_error", "moderation_blocked")
    assert body["moderation_details"] == {"moderation_stage": stage, "categories": categories}
    assert body["upstream"] == shape["error"]


def test_an_upstream_that_refuses_the_gateways_key_is_a_502(client, azure):
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="azure-wrong-key", prompt="a cat")
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_auth_failed")
    assert SECRET not in caught.value.response.text


def test_edits_reach_the_upstream_as_a_rebuilt_form(client, fake):
    from ..test_sdk_python_edits import png, source_image, top_half_mask

    client.images.edit(model="strict", image=[("a.png", png(source_image(64, 64))), ("b.png", png(source_image(32, 32)))],
                       mask=("m.png", png(top_half_mask(64, 64))), prompt="edit it", input_fidelity="high")
    [call] = fake.calls
    form = call.form()
    assert call.path == "/v1/images/edits" and len(form["image[]"]) == 2 and len(form["mask"]) == 1
    assert form["image[]"][0] == png(source_image(64, 64))  # the upload, byte for byte
    assert (form["model"], form["prompt"], form["input_fidelity"]) == (["strict"], ["edit it"], ["high"])
    assert 'filename="image0.png"' in call.body.decode("latin-1") and "image/png" in call.body.decode("latin-1")
