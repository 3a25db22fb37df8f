"""Table-driven bad inputs against the live server: each gets a 4xx OpenAI envelope, and the server
keeps serving afterwards."""

from __future__ import annotations

import json

import pytest

JSON = {"content-type": "application/json"}


def body(**fields) -> bytes:
    return json.dumps({"prompt": "a todo app", **fields}).encode()


# (id, raw body, headers, status, param, code)
CASES = [
    ("malformed-json", b'{"prompt": "x",', JSON, 400, None, "invalid_json"),
    ("json-array", b'["prompt"]', JSON, 400, None, "invalid_json"),
    ("wrong-content-type", body(), {"content-type": "text/plain"}, 400, None, "invalid_content_type"),
    ("form-content-type", b"prompt=x", {"content-type": "application/x-www-form-urlencoded"}, 400, None,
     "invalid_content_type"),
    ("non-utf8", b'{"prompt": "\xff\xfe\xfd"}', JSON, 400, None, "invalid_json"),
    # Once 500s (issue 15): a lone surrogate escape, nesting past the recursion limit, 4,300+ digits.
    ("lone-surrogate", b'{"prompt": "a \\ud800 cat"}', JSON, 400, "prompt", "invalid_value"),
    ("lone-low-surrogate-in-user", b'{"prompt": "a cat", "user": "\\uDC00"}', JSON, 400, "user", "invalid_value"),
    ("deep-nesting", b'{"prompt": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, 400, None,
     "invalid_json"),
    ("huge-int-n", b'{"prompt": "x", "n": ' + b"1" * 5000 + b"}", JSON, 400, None, "invalid_json"),
    ("huge-int-compression", b'{"prompt": "x", "model": "gpt-image-1", "output_compression": ' + b"9" * 5000 + b"}",
     JSON, 400, None, "invalid_json"),
    # Once accepted (issue 15, tests/fuzz/test_json_bodies.py): NaN and Infinity are not JSON.
    ("nan-literal", b'{"prompt": "x", "guidance_scale": NaN}', JSON, 400, None, "invalid_json"),
    ("infinity-literal", b'{"prompt": "x", "n": -Infinity}', JSON, 400, None, "invalid_json"),
    ("missing-prompt", json.dumps({"model": "gpt-image-1"}).encode(), JSON, 400, "prompt", "missing_required_parameter"),
    ("null-prompt", json.dumps({"prompt": None}).encode(), JSON, 400, "prompt", "missing_required_parameter"),
    ("empty-prompt", body(prompt=""), JSON, 400, "prompt", "empty_string"),
    ("blank-prompt", body(prompt="   "), JSON, 400, "prompt", "empty_string"),
    ("prompt-type", body(prompt=42), JSON, 400, "prompt", "invalid_type"),
    ("long-prompt-dalle2", body(prompt="x" * 1001), JSON, 400, "prompt", "string_above_max_length"),
    ("long-prompt-dalle3", body(prompt="x" * 4001, model="dall-e-3"), JSON, 400, "prompt", "string_above_max_length"),
    ("long-prompt-gpt", body(prompt="x" * 32001, model="gpt-image-1"), JSON, 400, "prompt", "string_above_max_length"),
    ("n-0", body(n=0), JSON, 400, "n", "integer_below_min_value"),
    ("n-11", body(n=11), JSON, 400, "n", "integer_above_max_value"),
    ("n-two", body(n="two"), JSON, 400, "n", "invalid_type"),
    ("n-string-digit", body(n="2"), JSON, 400, "n", "invalid_type"),
    ("n-bool", body(n=True), JSON, 400, "n", "invalid_type"),
    ("n-float", body(n=2.5), JSON, 400, "n", "invalid_type"),
    ("size-abc", body(size="abc"), JSON, 400, "size", "invalid_value"),
    ("size-0x0", body(size="0x0", model="gpt-image-2"), JSON, 400, "size", "invalid_value"),
    ("size-3d", body(size="1024x1024x3", model="gpt-image-2"), JSON, 400, "size", "invalid_value"),
    ("size-huge", body(size="99999x99999", model="gpt-image-2"), JSON, 400, "size", "invalid_value"),
    ("size-gpt-on-dalle2", body(size="1536x1024"), JSON, 400, "size", "invalid_value"),
    ("size-dalle-on-gpt", body(size="256x256", model="gpt-image-1"), JSON, 400, "size", "invalid_value"),
    ("size-ratio", body(size="3200x1024", model="gpt-image-2"), JSON, 400, "size", "invalid_value"),
    ("size-too-few-pixels", body(size="512x512", model="gpt-image-2"), JSON, 400, "size", "invalid_value"),
    ("compression-negative", body(model="gpt-image-1", output_format="jpeg", output_compression=-1), JSON, 400,
     "output_compression", "integer_below_min_value"),
    ("compression-101", body(model="gpt-image-1", output_format="webp", output_compression=101), JSON, 400,
     "output_compression", "integer_above_max_value"),
    ("compression-png", body(model="gpt-image-1", output_format="png", output_compression=50), JSON, 400,
     "output_compression", "invalid_value"),
    ("compression-float", body(model="gpt-image-1", output_format="jpeg", output_compression=50.5), JSON, 400,
     "output_compression", "invalid_type"),
    ("transparent-jpeg", body(model="gpt-image-1", background="transparent", output_format="jpeg"), JSON, 400,
     "background", "invalid_value"),
    ("transparent-gpt2", body(model="gpt-image-2", background="transparent"), JSON, 400, "background", "invalid_value"),
    ("quality-bad", body(model="gpt-image-1", quality="ultra"), JSON, 400, "quality", "invalid_value"),
    ("quality-hd-on-gpt", body(model="gpt-image-1", quality="hd"), JSON, 400, "quality", "invalid_value"),
    ("quality-low-on-dalle3", body(model="dall-e-3", quality="low"), JSON, 400, "quality", "invalid_value"),
    ("format-bad", body(model="gpt-image-1", output_format="gif"), JSON, 400, "output_format", "invalid_value"),
    ("background-on-dalle", body(model="dall-e-2", background="opaque"), JSON, 400, "background",
     "unsupported_parameter"),
    ("style-on-gpt", body(model="gpt-image-1", style="vivid"), JSON, 400, "style", "unsupported_parameter"),
    ("response-format-on-gpt", body(model="gpt-image-1", response_format="url"), JSON, 400, "response_format",
     "unknown_parameter"),
    ("unknown-model", body(model="dall-e-4"), JSON, 400, "model", "invalid_value"),
    ("unknown-field", body(model="gpt-image-1", colour="red"), JSON, 400, "colour", "unknown_parameter"),
    ("seed-negative", body(model="gpt-image-1", seed=-1), JSON, 400, "seed", "integer_below_min_value"),
    ("stream-on-dalle", body(model="dall-e-2", stream=True), JSON, 400, "stream", "unsupported_parameter"),
    ("stream-string", body(model="gpt-image-1", stream="true"), JSON, 400, "stream", "invalid_type"),
    ("partial-images-without-stream", body(model="gpt-image-1", partial_images=2), JSON, 400, "partial_images",
     "invalid_value"),
    ("body-over-cap", body(prompt="x" * 2_000_000), JSON, 413, None, "request_too_large"),
]


@pytest.mark.parametrize("raw, headers, status, param, code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_envelope_and_server_survives(http, raw, headers, status, param, code):
    response = http.post("/v1/images/generations", content=raw, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-request-id"].startswith("req_")
    assert "openai-processing-ms" in response.headers
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert http.get("/health").status_code == 200


def test_chunked_body_over_cap_is_refused(http):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = http.post("/v1/images/generations", content=chunks(), headers=JSON)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_nulls_mean_absent(http):
    fields = dict(model=None, n=None, quality=None, response_format=None, size=None, style=None, user=None, seed=None)
    response = http.post("/v1/images/generations", content=body(**fields), headers=JSON)
    assert response.status_code == 200, response.text
    assert set(response.json()["data"][0]) == {"url"}  # dall-e-2 defaults: one image, a url


def test_gpt_only_field_picks_gpt_model_when_model_absent(http):
    response = http.post("/v1/images/generations", content=body(output_format="jpeg"), headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["output_format"] == "jpeg" and "b64_json" in response.json()["data"][0]


def test_moderation_blocks_with_openai_shape(http):
    response = http.post("/v1/images/generations", headers=JSON,
                         content=body(model="gpt-image-1", prompt="a gory scene of a mangled corpse"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("image_generation_user_error", "moderation_blocked")
    assert response.headers["x-request-id"] in error["message"]
    assert error["moderation_details"] == {"moderation_stage": "input", "categories": ["violence/graphic"]}


def test_moderation_low_is_less_strict(http):
    ok = http.post("/v1/images/generations", headers=JSON,
                   content=body(model="gpt-image-1", prompt="a gory zombie movie poster", moderation="low"))
    assert ok.status_code == 200, ok.text
    blocked = http.post("/v1/images/generations", headers=JSON,
                        content=body(model="gpt-image-1", prompt="a gory zombie movie poster", moderation="auto"))
    assert blocked.status_code == 400


def test_an_escaped_surrogate_pair_is_an_ordinary_character(http):
    response = http.post("/v1/images/generations", content=b'{"prompt": "a rocket \\ud83d\\ude80 launch", '
                         b'"model": "dall-e-2", "size": "256x256"}', headers=JSON)
    assert response.status_code == 200, response.text


# Bad query strings on the GET routes (found by tests/fuzz/test_schemathesis.py): (id, path, status, param, code)
QUERY_CASES = [
    # Once a 500 (issue 15, schemathesis): a start_time past SQLite's 64-bit integers.
    ("usage-start-time-huge-negative", "/v1/usage/images?start_time=-99999999999999999999", 400, "start_time",
     "integer_below_min_value"),
    ("usage-start-time-negative", "/v1/usage/images?start_time=-1", 400, "start_time", "integer_below_min_value"),
    ("usage-end-time-past-9999", "/v1/usage/images?end_time=99999999999999999999", 400, "end_time",
     "integer_above_max_value"),
    ("usage-limit-not-int", "/v1/usage/images?limit=ten", 400, "limit", "invalid_value"),
]


@pytest.mark.parametrize("path, status, param, code", [c[1:] for c in QUERY_CASES], ids=[c[0] for c in QUERY_CASES])
def test_bad_query_gets_envelope_and_server_survives(http, path, status, param, code):
    response = http.get(path)
    assert response.status_code == status, response.text
    assert response.headers["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert http.get("/health").status_code == 200
