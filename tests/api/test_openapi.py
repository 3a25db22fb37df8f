"""The OpenAPI document (`api/openapi.py`) against the app and live responses, so that it cannot drift:
its routes are the app's routes; real 200s (JSON with b64_json or url, stream events) and real errors
validate against its schemas, with no key it does not declare; its request schemas hold every field
the server accepts, and a field outside them is refused with 400 `unknown_parameter`."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from PIL import Image
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from darkroom.api.app import create_app
from darkroom.api.openapi import build_document
from darkroom.config import load_settings
from tests.conftest import LiveServer, closed_port, create_key, start_server, stop_server

DOC = build_document()
REGISTRY = Registry().with_resource("urn:darkroom", DRAFT202012.create_resource(DOC))


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:darkroom#/components/schemas/{name}"}, registry=REGISTRY)


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].split("#/", 1)[1].split("/"):
            target = target[part]
        node = target
    return node


def undeclared(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys of `value` that its schema does not name (validation alone would let them through)."""
    schema = resolve(schema)
    options = schema.get("oneOf") or schema.get("anyOf")
    if options:
        return min((undeclared(value, option, where) for option in options), key=len)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += undeclared(item, schema["properties"][key], f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += undeclared(item, schema["items"], f"{where}[{index}]")
    return found


def check(value: Any, name: str) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(value)]
    assert not errors, errors
    extra = undeclared(value, DOC["components"]["schemas"][name])
    assert not extra, f"{name} does not declare {extra}"


def documented_statuses(path: str, method: str) -> set[str]:
    return set(DOC["paths"][path][method]["responses"])


def png(size: int = 256, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (size, size), (200, 120, 40, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def sse_events(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            name = lines[0].removeprefix("event: ")
            data = json.loads("".join(line.removeprefix("data: ") for line in lines[1:]))
            assert name == data["type"]
            events.append(data)
    return events


# ---- the document itself -------------------------------------------------------------------------


def test_served_document_is_the_built_one_and_valid_openapi(http):
    response = http.get("/openapi.json")
    assert response.status_code == 200 and response.json() == DOC
    validate_openapi(response.json())
    assert response.headers["x-request-id"].startswith("req_")


def test_docs_page_shows_this_document_and_fetches_nothing(http):
    response = http.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    for path in DOC["paths"]:
        assert path in page
    lowered = page.lower()
    assert "<script" not in lowered and "<link" not in lowered and "src=" not in lowered and "@import" not in lowered
    assert "http://" not in lowered.split("<pre>")[0] and "https://" not in lowered.split("<pre>")[0]


def test_every_route_is_documented_and_every_documented_route_exists(tmp_path):
    app = create_app(load_settings(data_dir=tmp_path))
    served = {(_shape(route.path), method.lower()) for route in _routes(app.routes)
              for method in route.methods if method != "HEAD"}
    assert len(served) > 10
    documented = {(_shape(path), method) for path, methods in DOC["paths"].items() for method in methods}
    assert served == documented


def _routes(routes: list) -> list:
    """The app's routes, through FastAPI's included routers (Darkroom includes them with no prefix)."""
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            assert not getattr(inner, "prefix", "")
            found += _routes(inner.routes)
        elif getattr(route, "methods", None):
            found.append(route)
    return found


def _shape(path: str) -> str:
    """`/v1/models/{model_id:path}` and `/v1/models/{model}` are the same route."""
    parts = path.split("/")
    return "/".join("{}" if part.startswith("{") else part for part in parts)


def test_extensions_and_darkroom_routes_are_marked():
    schemas = DOC["components"]["schemas"]
    for body in ("CreateImageRequest", "CreateImageEditRequest", "CreateImageEditJsonRequest"):
        props = schemas[body]["properties"]
        for name in ("seed", "steps", "guidance_scale", "negative_prompt", "scheduler"):
            assert props[name]["x-darkroom"] is True, (body, name)
        assert not props["prompt"].get("x-darkroom") and not props["n"].get("x-darkroom")
    assert schemas["CreateImageVariationRequest"]["properties"]["seed"]["x-darkroom"] is True
    ours = {path for path, methods in DOC["paths"].items() if methods["get" if "get" in methods else "post"]
            .get("x-darkroom")}
    assert ours == {"/v1/usage/images", "/v1/images/stored", "/v1/images/stored/{image_id}",
                    "/v1/images/stored/{image_id}/content", "/v1/images/files/{name}", "/health", "/metrics",
                    "/openapi.json", "/docs", "/", "/playground", "/playground/{name}"}
    assert set(schemas["Error"]["required"]) == {"message", "type", "param", "code"}


# ---- real 200s against the response schemas --------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"model": "dall-e-2", "size": "256x256"},  # url
    {"model": "dall-e-2", "size": "256x256", "response_format": "b64_json", "n": 2},
    {"model": "dall-e-3", "response_format": "b64_json"},  # revised_prompt
    {"model": "gpt-image-1", "quality": "low", "output_format": "webp", "seed": 3},  # echo fields, usage
    {"model": "gpt-image-2-alpha", "size": "1024x1024", "background": "transparent", "quality": "low"},
])
def test_generation_responses_validate(http, fields):
    response = http.post("/v1/images/generations", json={"prompt": "a lighthouse at dusk", **fields})
    assert response.status_code == 200, response.text
    assert "200" in documented_statuses("/v1/images/generations", "post")
    check(response.json(), "ImagesResponse")
    item = response.json()["data"][0]
    if "url" in item:  # the signed link: its own operation, its own 200
        image = httpx.get(item["url"], timeout=30)
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert "image/png" in DOC["paths"]["/v1/images/files/{name}"]["get"]["responses"]["200"]["content"]
    else:
        assert Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))).size[0] > 0


def test_edit_and_variation_responses_validate(http):
    edit = http.post("/v1/images/edits", data={"prompt": "make it night", "model": "gpt-image-1", "quality": "low"},
                     files=[("image[]", ("a.png", png(), "image/png")), ("image[]", ("b.png", png(), "image/png"))])
    assert edit.status_code == 200, edit.text
    check(edit.json(), "ImagesResponse")
    url = "data:image/png;base64," + base64.b64encode(png()).decode()
    as_json = http.post("/v1/images/edits", json={"prompt": "make it night", "model": "gpt-image-1",
                                                   "images": [{"image_url": url}]})
    assert as_json.status_code == 200, as_json.text
    check(as_json.json(), "ImagesResponse")
    variation = http.post("/v1/images/variations", data={"n": "2", "response_format": "b64_json"},
                          files={"image": ("a.png", png(), "image/png")})
    assert variation.status_code == 200, variation.text
    check(variation.json(), "ImagesResponse")


def test_the_documents_own_examples_are_served(http):
    for path, name in (("/v1/images/generations", "CreateImageRequest"),
                       ("/v1/images/edits", "CreateImageEditJsonRequest")):
        for example in DOC["components"]["schemas"][name]["examples"]:
            response = http.post(path, json=example)
            assert response.status_code == 200, (path, response.text)
            check(response.json(), "ImagesResponse")


@pytest.mark.parametrize("path, schema, request_fields", [
    ("/v1/images/generations", "ImageGenStreamEvent",
     {"json": {"prompt": "a fox", "model": "gpt-image-1", "stream": True, "partial_images": 2, "n": 2,
               "quality": "low"}}),
    ("/v1/images/edits", "ImageEditStreamEvent",
     {"data": {"prompt": "a fox", "model": "gpt-image-1", "stream": "true", "partial_images": "1", "quality": "low"},
      "files": {"image": ("a.png", png(), "image/png")}}),
])
def test_stream_events_validate(http, path, schema, request_fields):
    response = http.post(path, **request_fields)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    assert "text/event-stream" in DOC["paths"][path]["post"]["responses"]["200"]["content"]
    events = sse_events(response.text)
    kinds = [event["type"].rsplit(".", 1)[1] for event in events]
    assert "partial_image" in kinds and kinds[-1] == "completed"
    for event in events:
        check(event, schema)


def test_other_200s_validate(http):
    check(http.get("/v1/models").json(), "ListModelsResponse")
    check(http.get("/v1/models/gpt-image-1").json(), "Model")
    check(http.get("/v1/usage/images", params={"group_by": "model", "bucket_width": "1h", "limit": 2}).json(),
          "UsageImagesPage")
    check(http.get("/health").json(), "Health")
    metrics = http.get("/metrics")
    assert metrics.status_code == 200 and "text/plain" in DOC["paths"]["/metrics"]["get"]["responses"]["200"][
        "content"] and metrics.headers["content-type"].startswith("text/plain")


# ---- real errors against ErrorResponse, each status on an operation that documents it ----------------


@pytest.fixture(scope="module")
def gateway_like(tmp_path_factory: pytest.TempPathFactory):
    """A server that keeps images and has an upstream model nobody answers for (502s)."""
    live = start_server(tmp_path_factory.mktemp("openapi"), f"""api_keys = ["sk-openapi"]
store_all = true
[[models]]
name = "nowhere"
engine = "upstream"
family = "gpt-image"
base_url = "http://127.0.0.1:{closed_port()}/v1"
max_retries = 0
""", api_key="sk-openapi")
    yield live
    stop_server(live)


def _errors(server: LiveServer) -> list[tuple[str, str, httpx.Response]]:
    plain = httpx.Client(base_url=server.base_url, timeout=60)
    admin = {"Authorization": f"Bearer {server.api_key}"}
    user_key = create_key(server, "openapi-user", "--rpm", "1")
    user = {"Authorization": f"Bearer {user_key}"}
    first = plain.get("/v1/models", headers=user)
    assert first.status_code == 200
    gen, usage = "/v1/images/generations", "/v1/usage/images"
    return [
        (gen, "post", plain.post(gen, json={"prompt": "x", "n": 0}, headers=admin)),
        (gen, "post", plain.post(gen, content=b"{", headers={**admin, "content-type": "application/json"})),
        (gen, "post", plain.post(gen, content=b"prompt=x", headers={**admin, "content-type": "text/plain"})),
        (gen, "post", plain.post(gen, json={"prompt": "x"})),  # no key: 401
        (gen, "post", plain.post(gen, json={"prompt": "x"}, headers={"Authorization": "Bearer sk-wrong-key-0000"})),
        (gen, "post", plain.post(gen, json={"prompt": "x" * 3_000_000}, headers=admin)),  # 413
        (gen, "post", plain.post(gen, json={"prompt": "a fox", "model": "nowhere"}, headers=admin)),  # 502
        ("/v1/models", "get", plain.get("/v1/models", headers=user)),  # the key's second request: 429
        (usage, "get", plain.get(usage, params={"colour": "red"}, headers=admin)),
        ("/v1/models/{model}", "get", plain.get("/v1/models/dall-e-9", headers=admin)),
        ("/v1/images/stored/{image_id}", "get", plain.get("/v1/images/stored/nope", headers=admin)),
        ("/v1/images/files/{name}", "get", plain.get("/v1/images/files/x.png", params={"expires": "1",
                                                                                      "signature": "abc"})),
        ("/v1/images/files/{name}", "get", plain.get("/v1/images/files/..%2f..%2fetc")),
        ("/v1/images/variations", "post", plain.post("/v1/images/variations", headers=admin,
                                                     files={"image": ("a.png", b"not a png", "image/png")})),
        ("/v1/images/edits", "post", plain.post("/v1/images/edits", headers=admin, data={"prompt": "x"})),
    ]


def test_real_errors_validate_against_error_response(gateway_like):
    seen = set()
    for path, method, response in _errors(gateway_like):
        status = str(response.status_code)
        assert status in documented_statuses(path, method), (path, status, response.text)
        assert response.headers["x-request-id"].startswith("req_")
        check(response.json(), "ErrorResponse")
        seen.add(status)
    assert seen == {"400", "401", "403", "404", "413", "429", "502"}


def test_a_non_admin_key_gets_a_documented_403(gateway_like):
    key = create_key(gateway_like, "openapi-plain")
    response = httpx.get(f"{gateway_like.v1}/usage/images", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403 and "403" in documented_statuses("/v1/usage/images", "get")
    check(response.json(), "ErrorResponse")


def test_kept_images_validate(gateway_like):
    admin = {"Authorization": f"Bearer {gateway_like.api_key}"}
    made = httpx.post(f"{gateway_like.v1}/images/generations", headers=admin, timeout=60,
                      json={"prompt": "a boat", "model": "gpt-image-1", "quality": "low"})
    assert made.status_code == 200, made.text
    listed = httpx.get(f"{gateway_like.v1}/images/stored", headers=admin).json()
    check(listed, "KeptImageList")
    one = httpx.get(f"{gateway_like.v1}/images/stored/{listed['data'][0]['id']}", headers=admin).json()
    check(one, "KeptImage")
    content = httpx.get(f"{gateway_like.v1}/images/stored/{one['id']}/content", headers=admin)
    assert content.status_code == 200
    assert content.headers["content-type"] in DOC["paths"]["/v1/images/stored/{image_id}/content"]["get"][
        "responses"]["200"]["content"]


# ---- request schemas against what the server accepts -------------------------------------------------


def _value(schema: dict[str, Any]) -> Any:
    """A value the schema allows (its first enum value, its minimum...)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return _value(next(option for option in schema["anyOf"] if option.get("type") != "null"))
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return [_value(schema["items"])]
    if kind == "object":
        return {name: _value(prop) for name, prop in schema["properties"].items() if name == "image_url"}
    return "1024x1024" if kind == "string" else None


MODELS = ("dall-e-2", "gpt-image-1")  # a field may be unknown to one family (response_format to GPT models)


def _known(response: httpx.Response) -> bool:
    return response.status_code == 200 or response.json()["error"]["code"] != "unknown_parameter"


@pytest.mark.parametrize("name, path", [("CreateImageRequest", "/v1/images/generations"),
                                        ("CreateImageEditJsonRequest", "/v1/images/edits")])
def test_every_json_field_is_known_and_others_are_refused(http, name, path):
    schema = DOC["components"]["schemas"][name]
    assert schema["additionalProperties"] is False
    for field, prop in schema["properties"].items():
        answers = [http.post(path, json={"prompt": "a fox", "model": model, field: _value(prop)})
                   for model in MODELS if field != "model"] or [http.post(path, json={"model": "dall-e-2"})]
        assert any(_known(answer) for answer in answers), (field, [answer.text for answer in answers])
    refused = http.post(path, json={"prompt": "a fox", "colour": "red"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_parameter"
    assert refused.json()["error"]["param"] == "colour"


@pytest.mark.parametrize("name, path", [("CreateImageEditRequest", "/v1/images/edits"),
                                        ("CreateImageVariationRequest", "/v1/images/variations")])
def test_every_form_field_is_known_and_others_are_refused(http, name, path):
    schema = DOC["components"]["schemas"][name]
    image = {"image": ("a.png", png(), "image/png")}
    for field, prop in schema["properties"].items():
        if resolve(prop).get("format") == "binary" or "anyOf" in prop or prop.get("type") == "array":
            continue  # the files
        value = _value(prop)
        answers = []
        for model in MODELS:
            data = {"prompt": "a fox"} if "prompt" in schema["properties"] else {}
            data = {**data, "model": model, field: json.dumps(value) if not isinstance(value, str) else value}
            answers.append(http.post(path, data=data, files=image))
        assert any(_known(answer) for answer in answers), (field, [answer.text for answer in answers])
    refused = http.post(path, data={"prompt": "a fox", "colour": "red"}, files=image)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_parameter"
    stray_file = http.post(path, data={"prompt": "a fox"}, files={**image, "extra": ("b.png", png(), "image/png")})
    assert stray_file.status_code == 400 and stray_file.json()["error"]["code"] == "unknown_parameter"


def test_every_status_of_the_exception_tree_is_documented():
    """A new error class (as 507 was) must reach the document: every status in darkroom/errors.py is a
    documented error response, but 405 (a method no operation has) and UpstreamError's passed-through one."""
    from darkroom import errors

    def subclasses(cls: type) -> list[type]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in subclasses(child))]

    statuses = {str(cls.status) for cls in subclasses(errors.DarkroomError) if cls is not errors.UpstreamError}
    assert statuses - {"405"} <= set(DOC["components"]["responses"]), statuses - set(DOC["components"]["responses"])
    assert "default" in documented_statuses("/v1/images/generations", "post")  # the upstream's own status
