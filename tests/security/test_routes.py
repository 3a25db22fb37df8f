"""Stored-image and link routes give one answer whatever is tried; CORS; admin routes need an admin key.

One live server keeps every image (`store_all`), allows one web origin, and has a settings (admin)
key plus issued keys for alice, bob and an admin.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.conftest import create_key, start_server, stop_server

ADMIN = "sk-security-routes-admin"
ORIGIN = "https://app.example"
GEN = "/v1/images/generations"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("routes"), f'api_keys = ["{ADMIN}"]\nstore_all = true\n'
                          f'cors_allowed_origins = ["{ORIGIN}"]\n', api_key=ADMIN)
    keys = {name: create_key(server, name) for name in ("alice", "bob")}
    keys["ops"] = create_key(server, "ops", "--admin")
    server.keys = keys
    yield server
    stop_server(server)


def raw_get(live, path: str, key: str | None = None) -> tuple[int, dict]:
    """GET `path` exactly as written (no normalisation of `..` or escapes); (status, error envelope)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        request = http.build_request("GET", "/", headers=headers)
        request.url = request.url.copy_with(raw_path=path.encode("latin-1"))
        answer = http.send(request)
    body = answer.json()
    assert answer.headers["x-request-id"]
    return answer.status_code, body


# Literal `..` segments are resolved before routing (remove_dot_segments): `/v1/images/stored/../../x`
# is the path `/v1/x`, a plain unknown route (test_literal_dot_segments_leave_the_route). Everything else
# reaches the route and gets its one answer.
TRAVERSALS = ["..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
              "%252e%252e%252fetc%252fpasswd", "..%5c..%5cetc%5cpasswd", "..\\..\\etc\\passwd", "%2fetc%2fpasswd",
              "/etc/passwd", "abc%00def", "a" * 5000, "%ef%bc%8e%ef%bc%8e%ef%bc%8fetc", "%c0%ae%c0%ae%2f",
              "0" * 32, "%2e%2e", "..%2f"]


def test_kept_images_one_404_for_traversal_and_other_keys_ids(live):
    alice, bob = live.keys["alice"], live.keys["bob"]
    made = httpx.post(f"{live.v1}/images/generations", json={"prompt": "a fox", "size": "256x256", "model": "dall-e-2"},
                      headers={"Authorization": f"Bearer {alice}"}, timeout=60)
    assert made.status_code == 200
    [kept] = httpx.get(f"{live.v1}/images/stored", headers={"Authorization": f"Bearer {alice}"}).json()["data"]
    assert raw_get(live, f"/v1/images/stored/{kept['id']}", alice)[0] == 200
    answers = set()
    for tail in [kept["id"], f"{kept['id']}/content"]:  # alice's real id, asked by bob
        status, body = raw_get(live, f"/v1/images/stored/{tail}", bob)
        answers.add((status, body["error"]["message"], body["error"]["code"], body["error"]["type"]))
    for attempt in TRAVERSALS:
        for tail in (attempt, f"{attempt}/content"):
            status, body = raw_get(live, f"/v1/images/stored/{tail}", alice)
            answers.add((status, body["error"]["message"], body["error"]["code"], body["error"]["type"]))
    assert len(answers) == 1, answers
    assert next(iter(answers))[:3] == (404, "No kept image with this id for this API key.", "not_found")


@pytest.mark.parametrize(("limit", "code"), [("0", "integer_below_min_value"), ("-5", "integer_below_min_value"),
                                              ("1001", "integer_above_max_value"),
                                              ("9" * 30, "integer_above_max_value")])
def test_kept_list_limit_out_of_range_is_a_400(live, limit, code):
    status, body = raw_get(live, f"/v1/images/stored?limit={limit}", live.keys["alice"])
    assert (status, body["error"]["param"], body["error"]["code"]) == (400, "limit", code), body
    for fine in ("1", "1000"):
        assert raw_get(live, f"/v1/images/stored?limit={fine}", live.keys["alice"])[0] == 200


def test_literal_dot_segments_leave_the_route(live):
    for prefix in ("/v1/images/stored/", "/v1/images/files/"):
        status, body = raw_get(live, f"{prefix}../../../etc/passwd", live.keys["alice"])
        assert status == 404 and body["error"]["message"].startswith("Not found. Darkroom serves")


def test_links_one_403_for_every_forgery_and_never_the_bytes(live):
    made = httpx.post(f"{live.v1}/images/generations", json={"prompt": "a fox", "size": "256x256", "model": "dall-e-2",
                      "response_format": "url", "n": 2}, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    first, second = (urlparse(item["url"]) for item in made.json()["data"])
    name, other = first.path.rsplit("/", 1)[1], second.path.rsplit("/", 1)[1]
    q = {k: v[0] for k, v in parse_qs(first.query).items()}
    exp, sig = q["expires"], q["signature"]
    assert httpx.get(f"{live.base_url}{first.path}?{first.query}").status_code == 200

    def flip_bit(s: str) -> str:
        return s[:5] + chr(ord(s[5]) ^ 1) + s[6:]

    forged = [(name, str(int(exp) + 3600), sig), (name, str(int(exp) - 1), sig), (name, exp, flip_bit(sig)),
              (name, exp, sig[:-1]), (name, exp, sig[:20]), (name, exp, ""), (name, exp, sig.swapcase()),
              (name, exp, sig + "A"), (other, exp, sig), (name, None, sig), (name, exp, None),
              (name, "9" * 5000, sig), (name, "\u0661" * 10, sig), (name, "\u00b2", sig), (name, f"{exp}\n", sig),
              (name, f" {exp}", sig), (name, f"+{exp}", sig), (name, "-1", sig)]
    forged += [(t, exp, sig) for t in TRAVERSALS]
    answers = set()
    for target, expires, signature in forged:
        query = urlencode({k: v for k, v in (("expires", expires), ("signature", signature)) if v is not None})
        status, body = raw_get(live, f"/v1/images/files/{target}?{query}")
        answers.add((status, body["error"]["message"], body["error"]["code"]))
    assert answers == {(403, "This image link is not valid: its signature does not match it. Use the link exactly "
                             "as it was given.", "forbidden")}


def test_cors_for_the_allowed_origin_only_errors_included(live):
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os, x-stainless-retry-count, "
                                                 "openai-organization, openai-project, idempotency-key"}
    ok = httpx.options(f"{live.v1}/images/generations", headers=headers)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    other = httpx.options(f"{live.v1}/images/generations", headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    for key, body, status in ((None, {"prompt": "x"}, 401), (ADMIN, {"prompt": "x", "size": "7x7"}, 400),
                              (ADMIN, {"prompt": "x", "size": "256x256", "model": "dall-e-2"}, 200)):
        auth = {"Authorization": f"Bearer {key}"} if key else {}
        answer = httpx.post(f"{live.v1}/images/generations", json=body, headers={"Origin": ORIGIN, **auth}, timeout=60)
        assert answer.status_code == status
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
        evil = httpx.post(f"{live.v1}/images/generations", json=body,
                          headers={"Origin": "https://evil.example", **auth}, timeout=60)
        assert "access-control-allow-origin" not in evil.headers


ADMIN_ROUTES = ["/v1/usage/images", "/v1/organization/usage/images"]


def test_admin_routes_need_an_admin_key(live):
    for path in ADMIN_ROUTES:
        for key, status, code in ((None, 401, None), ("sk-wrong-key-000000", 401, "invalid_api_key"),
                                  (live.keys["alice"], 403, "forbidden"), (ADMIN, 200, None),
                                  (live.keys["ops"], 200, None)):
            answer = httpx.get(f"{live.base_url}{path}", headers={"Authorization": f"Bearer {key}"} if key else {})
            assert answer.status_code == status, (path, key, answer.text)
            if status != 200:
                assert answer.json()["error"]["code"] == code and answer.headers["x-request-id"]
            else:
                assert answer.json()["object"] == "page"


def test_an_open_server_has_no_cors_and_its_admin_routes_are_open(tmp_path):
    """Open: no key in the settings and none ever issued; every caller is treated as the operator."""
    server = start_server(tmp_path, "", api_key="")
    try:
        preflight = httpx.options(f"{server.v1}/images/generations", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
        assert "access-control-allow-origin" not in preflight.headers
        made = httpx.post(f"{server.v1}/images/generations", json={"prompt": "x", "size": "256x256",
                          "model": "dall-e-2"}, headers={"Origin": ORIGIN}, timeout=60)
        assert made.status_code == 200 and "access-control-allow-origin" not in made.headers
        for path in ADMIN_ROUTES:
            for headers in ({}, {"Authorization": "Bearer sk-anything"}):
                assert httpx.get(f"{server.base_url}{path}", headers=headers).status_code == 200
    finally:
        stop_server(server)
    assert "No API keys configured" in server.log()
