"""The upstream engine's options and error mapping, in-process (the live behaviour: tests/gateway/)."""

from __future__ import annotations

import json

import pytest

from darkroom.config import ConfigError
from darkroom.engines.upstream.options import check_options, read_credentials
from darkroom.engines.upstream.replies import error_from, filtered_categories, is_content_filter
from darkroom.errors import BadGateway, UpstreamError

AZURE_PROMPT_FILTER = {"error": {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
        "hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
        "sexual": {"filtered": True, "severity": "high"}, "violence": {"filtered": True, "severity": "medium"}}}}}
AZURE_DALLE_FILTER = {"error": {
    "code": "content_policy_violation", "message": "Your request was rejected as a result of our safety system.",
    "inner_error": {"code": "ResponsibleAIPolicyViolation", "revised_prompt": "a picture",
                    "content_filter_results": {"self_harm": {"filtered": True, "severity": "medium"}}}}}


def reply(status, body, **headers):
    return error_from(status, json.dumps(body).encode() if not isinstance(body, bytes) else body,
                      {k.replace("_", "-"): v for k, v in headers.items()}, model="m", family="gpt-image",
                      azure=True)


def test_openai_errors_pass_through_with_every_key():
    body = {"error": {"message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
                      "param": None, "code": "moderation_blocked",
                      "moderation_details": {"moderation_stage": "input", "categories": ["sexual"]}}}
    error = reply(400, body, x_request_id="up_1")
    assert isinstance(error, UpstreamError) and error.status == 400 and not error.no_work
    assert error.body() == body
    assert error.headers["x-darkroom-upstream-request-id"] == "up_1"


def test_429_and_503_keep_retry_after_and_did_no_work():
    error = reply(429, {"error": {"message": "slow down", "type": "requests", "param": None,
                                  "code": "rate_limit_exceeded"}}, retry_after="3")
    assert (error.status, error.headers["Retry-After"], error.no_work) == (429, "3", True)
    error = reply(503, b"<html>busy</html>")
    assert (error.status, error.no_work, error.type) == (503, True, "server_error")


def test_an_html_answer_is_a_502_and_auth_failures_never_pass_the_message_on():
    assert isinstance(reply(500, b"<html>oops</html>"), BadGateway)
    error = reply(401, {"error": {"message": "Incorrect API key provided: sk-proj-****abcd", "code": "invalid_api_key"}})
    assert (error.status, error.code) == (502, "upstream_auth_failed")
    assert "abcd" not in json.dumps(error.body())


def test_azure_content_filters_become_openais_moderation_blocked():
    error = reply(400, AZURE_PROMPT_FILTER)
    body = error.body()["error"]
    assert (error.status, body["type"], body["code"]) == (400, "image_generation_user_error", "moderation_blocked")
    assert body["moderation_details"] == {"moderation_stage": "input", "categories": ["sexual", "violence"]}
    assert body["upstream"] == AZURE_PROMPT_FILTER["error"]
    dalle = error_from(400, json.dumps(AZURE_DALLE_FILTER).encode(), {}, model="m", family="dall-e-3", azure=True)
    assert dalle.body()["error"]["code"] == "content_policy_violation"
    assert dalle.body()["error"]["upstream"]["inner_error"]["revised_prompt"] == "a picture"
    assert filtered_categories(AZURE_DALLE_FILTER["error"]) == ["self-harm"]
    assert is_content_filter({"code": "contentFilter", "message": "x"})
    assert not is_content_filter({"code": "invalid_value"})


@pytest.mark.parametrize("options, message", [
    ({}, "base_url"),
    ({"base_url": "ftp://x"}, "http"),
    ({"base_url": "http://x", "headers": {"Authorization": "Bearer sk"}}, "credential"),
    ({"base_url": "http://x", "kind": "azure"}, "api_key_env"),
    ({"base_url": "http://x", "api_version": "2025"}, "azure"),
    ({"base_url": "http://x", "kind": "azure", "api_key_env": "K", "deployment": "d"}, "api_version"),
    ({"base_url": "http://x", "bogus": 1}, "bogus"),
])
def test_bad_options_stop_the_start(options, message):
    with pytest.raises(ConfigError, match=message):
        check_options("m", options)


def test_credentials_come_from_the_environment_and_never_show(monkeypatch):
    opts = check_options("m", {"base_url": "http://x", "api_key_env": "MY_UPSTREAM_KEY"})
    with pytest.raises(ConfigError, match="MY_UPSTREAM_KEY is not set"):
        read_credentials("m", opts)
    monkeypatch.setenv("MY_UPSTREAM_KEY", "sk-secret")
    credentials = read_credentials("m", opts)
    assert credentials.headers() == {"authorization": "Bearer sk-secret"} and "sk-secret" not in repr(credentials)
    azure = check_options("m", {"base_url": "http://x", "kind": "azure", "api_key_env": "MY_UPSTREAM_KEY"})
    assert read_credentials("m", azure).headers() == {"api-key": "sk-secret"}
