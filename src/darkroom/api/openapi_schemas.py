"""The hand-written parts of the OpenAPI document (`openapi.py`): the stream events, the error envelope
and the shapes of Darkroom's other routes (models, usage, kept images, health).

Each mirrors the code that builds the response: `streaming.py` (events), `errors.py` (the envelope),
`api/models.py`, `store/ledger.py` (usage buckets), `store/kept.py`, `api/health.py`.
`tests/api/test_openapi.py` checks live responses against them, and that they declare every key sent.
"""

from __future__ import annotations

from typing import Any

REF = "#/components/schemas/{model}"



def stream_schemas() -> dict[str, Any]:
    echo = {"created_at": {"type": "integer", "description": "Unix seconds."},
            "size": {"type": "string"}, "quality": {"type": "string", "enum": ["low", "medium", "high", "auto"]},
            "background": {"type": "string", "enum": ["transparent", "opaque", "auto"]},
            "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"]}}
    index = {"type": "integer", "minimum": 0, "x-darkroom": True,
             "description": "Darkroom: which image of the request (present when n > 1)."}
    usage = {"type": "object", "required": ["total_tokens", "input_tokens", "output_tokens", "input_tokens_details"],
             "properties": {"total_tokens": {"type": "integer"}, "input_tokens": {"type": "integer"},
                            "output_tokens": {"type": "integer"},
                            "input_tokens_details": {"$ref": REF.format(model="InputTokensDetails")}}}
    schemas: dict[str, Any] = {"ImagesUsage": usage}
    for kind, title in (("image_generation", "ImageGen"), ("image_edit", "ImageEdit")):
        common = ["type", "b64_json", *echo]
        schemas[f"{title}PartialImageEvent"] = {
            "type": "object", "required": [*common, "partial_image_index"],
            "properties": {"type": {"const": f"{kind}.partial_image"}, "b64_json": {"type": "string"}, **echo,
                           "partial_image_index": {"type": "integer", "minimum": 0}, "image_index": index}}
        schemas[f"{title}CompletedEvent"] = {
            "type": "object", "required": [*common, "usage"],
            "properties": {"type": {"const": f"{kind}.completed"}, "b64_json": {"type": "string"}, **echo,
                           "usage": {"$ref": REF.format(model="ImagesUsage")}, "image_index": index}}
        schemas[f"{title}StreamEvent"] = {
            "description": "The `data` of one server-sent event; its `event:` line repeats `type`.",
            "oneOf": [{"$ref": REF.format(model=f"{title}{name}")}
                      for name in ("PartialImageEvent", "CompletedEvent")] + [
                {"$ref": REF.format(model="StreamErrorEvent")}]}
    schemas["StreamErrorEvent"] = {
        "type": "object", "required": ["type", "error"], "description": "A failure after the stream began.",
        "properties": {"type": {"const": "error"}, "error": {"$ref": REF.format(model="Error")}}}
    schemas["Error"] = {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]},
                       "moderation_details": {"type": "object", "description": "Moderation blocks: "
                                              "`moderation_stage` and `categories`."}}}
    schemas["ErrorResponse"] = {"type": "object", "required": ["error"], "additionalProperties": False,
                                "properties": {"error": {"$ref": REF.format(model="Error")}}}
    return schemas


def capabilities_schema() -> dict[str, Any]:
    """`capabilities` of a model object (`darkroom/capabilities.py`): what a request to it may carry."""
    integer, strings = {"type": "integer"}, {"type": "array", "items": {"type": "string"}}
    bound = {"type": ["integer", "null"]}
    span = {"type": "object", "required": ["min", "max"], "properties": {"min": integer, "max": integer}}
    custom = {"type": ["object", "null"], "required": ["multiple", "min_pixels", "max_pixels", "max_edge", "max_ratio"],
              "description": "Any other WIDTHxHEIGHT: multiples of `multiple`, `min_pixels`..`max_pixels` pixels, "
                             "edges up to `max_edge`, long/short side up to `max_ratio` (null: no such bound).",
              "properties": {"multiple": integer, "min_pixels": integer, "max_pixels": integer, "max_edge": bound,
                             "max_ratio": bound}}
    edits = {"type": ["object", "null"], "description": "null: this model makes no edits.",
             "required": ["max_images", "image_formats", "square_only", "mask", "input_fidelity", "backgrounds"],
             "properties": {"max_images": integer, "image_formats": strings, "square_only": {"type": "boolean"},
                            "mask": {"type": "boolean"}, "input_fidelity": strings, "backgrounds": strings}}
    variations = {"type": ["object", "null"], "description": "null: this model makes no variations.",
                  "required": ["sizes", "custom_sizes", "n", "response_formats"],
                  "properties": {"sizes": strings, "custom_sizes": custom, "n": span, "response_formats": strings}}
    extensions = {"type": "object", "required": ["seed"],
                  "description": "The Darkroom extension fields this model's engine honours (any other is refused).",
                  "properties": {"seed": span, "steps": span,
                                 "guidance_scale": {"type": "object", "properties": {"min": {"type": "number"},
                                                                                      "max": {"type": "number"}}},
                                 "negative_prompt": {"type": "object", "properties": {"max_length": integer}},
                                 "scheduler": {"type": "object", "properties": {"values": strings}}}}
    fields = {"prompt_max_length": integer, "sizes": strings, "custom_sizes": custom, "qualities": strings, "n": span,
              "response_formats": strings, "styles": strings, "output_formats": strings,
              "output_compression": {"type": ["object", "null"], "required": ["formats", "min", "max"],
                                     "properties": {"formats": strings, "min": integer, "max": integer}},
              "backgrounds": strings, "transparent_formats": strings, "moderation": strings,
              "stream": {"type": "boolean"}, "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
              "edits": edits, "variations": variations, "extensions": extensions}
    return {"type": "object", "x-darkroom": True, "required": list(fields), "properties": fields,
            "description": "Darkroom: what a request to this model may carry, from the rules the server enforces. "
                           "A list holds a field's accepted values; an empty list: the field is refused."}


def darkroom_schemas() -> dict[str, Any]:
    string, integer, number = {"type": "string"}, {"type": "integer"}, {"type": "number"}
    nullable = {"type": ["string", "null"]}
    model = {"type": "object", "required": ["id", "object", "created", "owned_by"],
             "properties": {"id": string, "object": {"const": "model"}, "created": integer, "owned_by": string,
                            "engine": {**string, "x-darkroom": True}, "family": {**string, "x-darkroom": True},
                            "description": {"type": ["string", "null"], "x-darkroom": True},
                            "moderation": {"type": "object", "x-darkroom": True, "required": ["by"],
                                           "description": "Who checks this model's requests, and which checks "
                                                          "are skipped and why.",
                                           "properties": {"by": {"enum": ["darkroom", "provider", "nobody"]},
                                                          "prompts": string, "input_images": string,
                                                          "output_images": string, "reason": string,
                                                          "detector_ceiling": number}},
                            "capabilities": {"$ref": REF.format(model="ModelCapabilities")},
                            "targets": {"type": "array", "items": string, "x-darkroom": True},
                            "strategy": {**string, "x-darkroom": True}}}
    result = {"type": "object", "required": ["object", "images", "num_model_requests"],
              "properties": {"object": {"const": "organization.usage.images.result"}, "images": integer,
                             "num_model_requests": integer, "input_tokens": {**integer, "x-darkroom": True},
                             "output_tokens": {**integer, "x-darkroom": True},
                             "cost_usd": {**number, "x-darkroom": True}, "source": nullable, "size": nullable,
                             "model": nullable, "api_key_id": nullable, "project_id": nullable, "user_id": nullable}}
    kept = {"type": "object", "x-darkroom": True,
            "required": ["object", "id", "request_id", "created_at", "expires_at", "model", "operation", "prompt",
                         "size", "output_format", "seed", "url"],
            "properties": {"object": {"const": "image.kept"}, "id": string, "request_id": string,
                           "created_at": integer, "expires_at": integer, "model": string, "operation": string,
                           "prompt": string, "size": string, "output_format": string, "seed": integer,
                           "url": string}}
    return {
        "Model": model,
        "ModelCapabilities": capabilities_schema(),
        "ListModelsResponse": {"type": "object", "required": ["object", "data"],
                               "properties": {"object": {"const": "list"},
                                              "data": {"type": "array", "items": {"$ref": REF.format(model="Model")}}}},
        "UsageImagesResult": result,
        "UsageImagesBucket": {"type": "object", "required": ["object", "start_time", "end_time", "results"],
                              "properties": {"object": {"const": "bucket"}, "start_time": integer,
                                             "end_time": integer, "results": {"type": "array", "items": {
                                                 "$ref": REF.format(model="UsageImagesResult")}}}},
        "UsageImagesPage": {"type": "object", "required": ["object", "data", "has_more", "next_page"],
                            "properties": {"object": {"const": "page"}, "has_more": {"type": "boolean"},
                                           "next_page": nullable, "data": {"type": "array", "items": {
                                               "$ref": REF.format(model="UsageImagesBucket")}}}},
        "KeptImage": kept,
        "KeptImageList": {"type": "object", "x-darkroom": True, "required": ["object", "data"],
                          "properties": {"object": {"const": "list"},
                                         "data": {"type": "array", "items": {"$ref": REF.format(model="KeptImage")}}}},
        "Health": {"type": "object", "x-darkroom": True,
                   "required": ["status", "version", "models", "moderation", "workers", "routes", "targets"],
                   "properties": {"status": {"enum": ["ok", "loading", "failed", "degraded", "draining"]}, "version": string,
                                  "models": {"type": "object", "additionalProperties": {
                                      "type": "object", "required": ["engine", "state"]}},
                                  "moderation": {"enum": ["loading", "ready", "off"]}, "workers": {"type": "object"},
                                  "routes": {"type": "object"}, "targets": {"type": "object"}}},
    }
