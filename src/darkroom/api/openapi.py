"""`GET /openapi.json`: the OpenAPI 3.1 document of every route, as Darkroom really serves it.

Built here on purpose, not guessed by FastAPI (whose handlers read the raw `Request`, so its own
document would show no bodies and no errors). Request bodies come from the protocol models
(`protocol/images.py`, `protocol/edits.py`) that validate them, so a field the server accepts is in
the schema and an unknown one (refused with 400 `unknown_parameter`) is not: `additionalProperties:
false`. `ImagesResponse` comes from the model that serialises it. The stream events, the error
envelope and the shapes of Darkroom's own routes are written out in `openapi_schemas.py`.

Darkroom's additions are marked `x-darkroom: true`: extension fields (`seed`, `steps`,
`guidance_scale`, `negative_prompt`, `scheduler`, the events' `image_index`) and routes OpenAI does
not have (`/health`, `/metrics`, `/v1/usage/images`, kept images, signed image links, this document
and `/docs`, the playground page and its files). Every response carries `x-request-id`. Model
objects carry `capabilities` (`ModelCapabilities`). `tests/api/test_openapi.py` holds the document
to live responses; `tests/fuzz/test_schemathesis.py` fuzzes every operation in it.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel

from .. import __version__
from ..protocol.edits import MAX_EDIT_IMAGES, ImageEditJSONRequest, ImageEditRequest, ImageVariationRequest
from ..protocol.images import Extensions, ImageGenerateRequest, ImagesResponse
from .docs_page import render_docs
from .kept import MAX_LISTED
from .openapi_schemas import REF, darkroom_schemas, stream_schemas
from .usage import MAX_BUCKETS, MAX_TIME

EXTENSION_FIELDS = (*Extensions.model_fields,)  # seed, steps, guidance_scale, negative_prompt, scheduler
# Error statuses, each with what makes it happen (the exception tree: darkroom/errors.py).
ERRORS = {
    "400": "Invalid request: a field breaks a rule of the API or of the model's family, an unknown field, "
           "a body that is not JSON or not a form, a wrong Content-Type, or blocked by moderation.",
    "401": "No API key, or a wrong one (only when the server has keys).",
    "403": "An admin route called with a non-admin key, or a signed link tampered with or expired.",
    "404": "No such resource, or a model the key may not use.",
    "408": "The request's headers or body did not arrive in time (`header_timeout_seconds`, "
           "`body_timeout_seconds`): a client too slow to send it.",
    "413": "The request body (or one uploaded file) is over the configured limit.",
    "429": "The key is over its rate limit (`rate_limit_exceeded`, with Retry-After) or its quota or budget "
           "(`insufficient_quota`).",
    "431": "The request's headers are over `max_header_bytes`.",
    "500": "A failure inside Darkroom (the message is sanitised).",
    "502": "An upstream provider could not be reached or answered something that is not OpenAI's API.",
    "503": "Not now: models still loading, a full queue, out of memory (`out_of_memory`), an engine stuck "
           "on a call (`engine_stuck`), too many open connections, the metadata or image store "
           "unreachable (`store_unavailable`, `storage_unavailable`), or shutting down (with Retry-After).",
    "504": "The request's deadline passed before its images were ready (or an upstream did not answer).",
    "507": "A write the request needs (a `url` response's image, a kept image, a limit's counter) failed: a disk "
           "is full (`insufficient_storage`; Darkroom's own status, OpenAI has none).",
}
EXAMPLES = {  # one request per body that the default catalog serves
    "CreateImageRequest": {"prompt": "a lighthouse at dusk", "model": "gpt-image-1", "size": "1024x1024",
                           "quality": "low", "seed": 7},
    "CreateImageEditJsonRequest": {
        "prompt": "make it night", "model": "dall-e-2", "size": "256x256",
        "images": [{"image_url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
                                 "mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}]},
}
CONNECTION = ("408", "431")  # any request at all: the connection layer (`api/connections.py`) answers them
KEYED = ("401", "429", "500", "503", "507")  # any route behind the API key: auth reads the key store, charges limits
IMAGE_ERRORS = ("400", "401", "404", "413", "429", "500", "502", "503", "504", "507")


def build_document() -> dict[str, Any]:
    """The whole document (a fresh dict each call)."""
    schemas: dict[str, Any] = {}
    request_schemas = {
        "CreateImageRequest": _body_schema(ImageGenerateRequest, schemas, required=("prompt",)),
        "CreateImageEditJsonRequest": _body_schema(ImageEditJSONRequest, schemas, required=("prompt", "images")),
        "CreateImageEditRequest": _form_schema(ImageEditRequest, files=_edit_files(), required=("image", "prompt")),
        "CreateImageVariationRequest": _form_schema(ImageVariationRequest, files={"image": _file(
            "The image to vary: a square PNG under 4 MB.")}, required=("image",)),
    }
    for name, example in EXAMPLES.items():
        request_schemas[name]["examples"] = [example]
    schemas.update(request_schemas)
    schemas["ImagesResponse"] = _model_schema(ImagesResponse, schemas)
    schemas.update(stream_schemas())
    schemas.update(darkroom_schemas())
    return {
        "openapi": "3.1.0",
        "info": {"title": "Darkroom", "version": __version__,
                 "description": "A self-hosted server for OpenAI's Image API. Fields and routes marked "
                                "`x-darkroom` are Darkroom's own additions."},
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "responses": {status: _error_response(status, text) for status, text in ERRORS.items()},
            "headers": {"x-request-id": {"required": True, "description": "This request's id (also in the logs).",
                                         "schema": {"type": "string", "pattern": "^req_[0-9a-f]{32}$"}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API key: one from the settings file (admin), or "
                                                          "one made with `darkroom keys create`. A server with no "
                                                          "key at all is open."}},
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Serve the document at /openapi.json and a readable, self-contained rendering at /docs."""
    document = build_document()
    page = render_docs(document)

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(copy.deepcopy(document))

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    app.add_api_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


# ---- paths ---------------------------------------------------------------------------------------


def _paths() -> dict[str, Any]:
    images = {"$ref": REF.format(model="ImagesResponse")}
    return {
        "/v1/images/generations": {"post": _operation(
            "createImage", "Create images from a prompt.", IMAGE_ERRORS,
            body={"application/json": _ref("CreateImageRequest")},
            ok={"application/json": {"schema": images},
                "text/event-stream": {"schema": _ref("ImageGenStreamEvent")}},
            ok_text="The images (JSON), or with `stream: true` server-sent events.")},
        "/v1/images/edits": {"post": _operation(
            "createImageEdit", "Edit or extend images from a prompt (and a mask).", IMAGE_ERRORS,
            body={"multipart/form-data": {**_ref("CreateImageEditRequest"), "encoding": {
                      "image": {"contentType": "image/png, image/jpeg, image/webp, application/octet-stream"},
                      "image[]": {"contentType": "image/png, image/jpeg, image/webp, application/octet-stream"},
                      "mask": {"contentType": "image/png, application/octet-stream"}}},
                  "application/json": _ref("CreateImageEditJsonRequest")},
            ok={"application/json": {"schema": images},
                "text/event-stream": {"schema": _ref("ImageEditStreamEvent")}},
            ok_text="The images (JSON), or with `stream: true` server-sent events.")},
        "/v1/images/variations": {"post": _operation(
            "createImageVariation", "Variations of one image (dall-e-2 rules).", IMAGE_ERRORS,
            body={"multipart/form-data": {**_ref("CreateImageVariationRequest"), "encoding": {
                "image": {"contentType": "image/png, application/octet-stream"}}}},
            ok={"application/json": {"schema": images}}, ok_text="The images.")},
        "/v1/models": {"get": _operation("listModels", "The models this key may use.", KEYED,
                                         ok={"application/json": _ref("ListModelsResponse")})},
        "/v1/models/{model}": {"get": _operation(
            "retrieveModel", "One model.", (*KEYED, "404"), ok={"application/json": _ref("Model")},
            parameters=[_path_param("model", "The model's id.")])},
        "/v1/images/files/{name}": {"get": _operation(
            "getImageFile", "The image behind a signed `url` of a response. No API key: the signature is "
            "the credential.", ("403", "404", "500", "503"), ok=_image_content(), darkroom=True, keyed=False,
            parameters=[_path_param("name", "The stored image's name, as the link gives it."),
                        _query("expires", {"type": "string"}, "Expiry (Unix seconds), as the link gives it."),
                        _query("signature", {"type": "string"}, "The link's signature.")])},
        "/v1/usage/images": {"get": _usage_operation("getUsageImages")},
        "/v1/organization/usage/images": {"get": _usage_operation("getOrganizationUsageImages", darkroom=False)},
        "/v1/images/stored": {"get": _operation(
            "listKeptImages", "The caller's kept images (`store_all`), newest first.", (*KEYED, "400", "404"),
            ok={"application/json": _ref("KeptImageList")}, darkroom=True,
            parameters=[_query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LISTED},
                                      "How many (default 100); outside 1-1000 a 400.")])},
        "/v1/images/stored/{image_id}": {"get": _operation(
            "getKeptImage", "One kept image's metadata, with a fresh signed `url`.", (*KEYED, "404"),
            ok={"application/json": _ref("KeptImage")}, darkroom=True,
            parameters=[_path_param("image_id", "The kept image's id.")])},
        "/v1/images/stored/{image_id}/content": {"get": _operation(
            "getKeptImageContent", "A kept image's bytes.", (*KEYED, "404"), ok=_image_content(), darkroom=True,
            parameters=[_path_param("image_id", "The kept image's id.")])},
        "/health": {"get": _health_operation()},
        "/metrics": {"get": _operation(
            "getMetrics", "Prometheus metrics in the text format. Open, like /health.", (), darkroom=True,
            keyed=False, ok={"text/plain": {"schema": {"type": "string"}}})},
        "/openapi.json": {"get": _operation(
            "getOpenAPI", "This document.", (), darkroom=True, keyed=False,
            ok={"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}})},
        "/docs": {"get": _operation(
            "getDocs", "This document as a readable page (self-contained: nothing is fetched from elsewhere).",
            (), darkroom=True, keyed=False, ok={"text/html": {"schema": {"type": "string"}}})},
        "/": {"get": _page_operation("getPlayground")},
        "/playground": {"get": _page_operation("getPlaygroundPage")},
        "/playground/{name}": {"get": _playground_asset_operation()},
    }


def _page_operation(operation_id: str) -> dict[str, Any]:
    """The playground page (`api/playground.py`): static, open; its calls to /v1 carry the visitor's key."""
    operation = _operation(operation_id, "The web playground (static HTML; works offline). No API key: the page "
                           "holds no secret, its calls to /v1 carry the key typed into it.", (), darkroom=True,
                           keyed=False, ok={"text/html": {"schema": {"type": "string"}}})
    operation["responses"]["304"] = {"description": "Not modified (`If-None-Match` matched the ETag).",
                                     "headers": _request_id()}
    return operation


def _playground_asset_operation() -> dict[str, Any]:
    text = {"schema": {"type": "string"}}
    operation = _operation("getPlaygroundAsset", "One of the playground's static files (script, stylesheet, icon).",
                           ("404",), darkroom=True, keyed=False,
                           ok={"text/javascript": text, "text/css": text, "image/svg+xml": text},
                           parameters=[_path_param("name", "The file's name, e.g. `app.js`.")])
    operation["responses"]["304"] = {"description": "Not modified (`If-None-Match` matched the ETag).",
                                     "headers": _request_id()}
    return operation


def _operation(operation_id: str, summary: str, errors: tuple[str, ...], *, ok: dict[str, Any],
               ok_text: str = "OK.", body: dict[str, Any] | None = None, parameters: list | None = None,
               darkroom: bool = False, keyed: bool = True) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": ok_text, "headers": _request_id(), "content": ok}}
    for status in sorted({*errors, *CONNECTION}):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    if body is not None and any(s in errors for s in ("502", "504")):
        # An upstream model's own error is passed through with its status (e.g. 422 from a gateway).
        responses["default"] = _error_response("default", "An upstream provider's error, passed through as "
                                                          "it was (its status, type, code, param and message).")
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary, "responses": responses,
                                 "security": [{"bearer": []}, {}] if keyed else []}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    if darkroom:
        operation["x-darkroom"] = True
    return operation


def _usage_operation(operation_id: str, darkroom: bool = True) -> dict[str, Any]:
    strings = {"type": "array", "items": {"type": "string"}}
    seconds = {"type": "integer", "minimum": 0, "maximum": MAX_TIME}
    parameters = [
        _query("start_time", seconds, "Start (Unix seconds); default: a bucket boundary 7 days ago."),
        _query("end_time", seconds, "End (Unix seconds, exclusive); default: now."),
        _query("bucket_width", {"type": "string", "enum": ["1m", "1h", "1d"]}, "Bucket width; default 1d."),
        _query("group_by", {"type": "array", "items": {"type": "string", "enum": ["model", "size", "source",
                                                                                 "api_key_id"]}}, "Group by."),
        _query("api_key_id", {"type": "string"}, "One key's name."),
        _query("api_key_ids", strings, "Key names (repeated or comma-separated)."),
        _query("models", strings, "Models."),
        _query("sizes", strings, "Sizes."),
        _query("sources", strings, "Sources (`image.generation`, `image.edit`, `image.variation`)."),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": max(MAX_BUCKETS.values())},
               "Buckets: 1-31 for 1d, 1-168 for 1h, 1-1440 for 1m."),
    ]
    operation = _operation(operation_id, "The usage ledger in OpenAI's organization usage shape (admin keys). "
                           "Any other query parameter is refused.", (*KEYED, "400", "403"),
                           ok={"application/json": _ref("UsageImagesPage")}, parameters=parameters,
                           darkroom=darkroom)
    return operation


def _health_operation() -> dict[str, Any]:
    operation = _operation("getHealth", "Always open. 200 when every model is ready; 503 while any loads or "
                           "failed, while moderation loads, while an engine is stuck (`degraded`), or while the "
                           "server drains.", (), darkroom=True,
                           keyed=False, ok={"application/json": _ref("Health")})
    operation["responses"]["503"] = {"description": "Not ready (the same body; `status` says why).",
                                     "headers": _request_id(), "content": {"application/json": _ref("Health")}}
    return operation


def _image_content() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"image/png": binary, "image/jpeg": binary, "image/webp": binary}


def _error_response(status: str, text: str) -> dict[str, Any]:
    headers = _request_id()
    if status in ("429", "503"):
        headers["retry-after"] = {"description": "Seconds to wait (rate limits, overload, loading, shutting down).",
                                  "schema": {"type": "string"}}
    return {"description": text, "headers": headers,
            "content": {"application/json": _ref("ErrorResponse")}}


def _request_id() -> dict[str, Any]:
    return {"x-request-id": {"$ref": "#/components/headers/x-request-id"}}


def _ref(name: str) -> dict[str, Any]:
    return {"schema": {"$ref": REF.format(model=name)}}


def _path_param(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": text, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": text, "schema": schema}


# ---- request and response schemas from the protocol models ----------------------------------------


def _model_schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """`model`'s JSON schema with its sub-models moved into `schemas`; pydantic's titles dropped."""
    raw = model.model_json_schema(ref_template=REF)
    for name, sub in raw.pop("$defs", {}).items():
        schemas.setdefault(name, _clean(sub))
    return _clean(raw)


def _body_schema(model: type[BaseModel], schemas: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """A JSON request body: closed (an unknown field is a 400), `null` meaning absent, extensions marked."""
    schema = _model_schema(model, schemas)
    for name in required:
        schema["properties"][name] = _not_null(schema["properties"][name])
    schema["required"] = list(required)
    _mark_extensions(schema, model)
    return schema


def _form_schema(model: type[BaseModel], files: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """A multipart form: the model's fields as text parts (an empty value means absent), plus its files."""
    schema = _clean(model.model_json_schema())
    schema["properties"] = {**files, **{name: _not_null(prop) for name, prop in schema["properties"].items()}}
    schema["required"] = list(required)
    schema["additionalProperties"] = False
    _mark_extensions(schema, model)
    return schema


def _edit_files() -> dict[str, Any]:
    one = _file("An image to edit (PNG, JPEG or WebP). GPT models take up to "
                f"{MAX_EDIT_IMAGES}, as repeated `image` parts or as `image[]`.")
    return {
        "image": {"anyOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_EDIT_IMAGES}]},
        "image[]": {"type": "array", "items": one, "minItems": 1, "maxItems": MAX_EDIT_IMAGES,
                    "description": "The Python SDK's spelling of several images."},
        "mask": _file("A PNG whose fully transparent pixels mark where to edit; the size of the first image."),
    }


def _file(text: str) -> dict[str, Any]:
    return {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream", "description": text}


def _mark_extensions(schema: dict[str, Any], model: type[BaseModel]) -> None:
    for name in EXTENSION_FIELDS:
        if name in schema["properties"]:
            schema["properties"][name]["x-darkroom"] = True
            schema["properties"][name].setdefault("description", _EXTENSION_TEXT[name])
    if model.__doc__:
        schema["description"] = model.__doc__.strip().split("\n\n")[0]


_EXTENSION_TEXT = {
    "seed": "Darkroom: the seed of the first image (the next images use seed+1...); the same seed, the same pixels.",
    "steps": "Darkroom: denoising steps (engines that take them; others refuse the field).",
    "guidance_scale": "Darkroom: classifier-free guidance (engines that take it).",
    "negative_prompt": "Darkroom: what the image should not show (engines that take it).",
    "scheduler": "Darkroom: the diffusers scheduler to use (engines that take it).",
}


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, null]` -> X (a required field, or a form value, cannot be null)."""
    options = [option for option in prop.get("anyOf", ()) if option != {"type": "null"}]
    if len(options) != 1:
        return prop
    rest = {key: value for key, value in prop.items() if key not in ("anyOf", "default")}
    return {**options[0], **rest}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items() if key != "title"}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value
