"""Wire models for `/v1/images/*`, named and ordered after openai-python's types.

Requests are strict (JSON types as OpenAI checks them: `"2"` is not an `n`) and closed (an unknown
key is OpenAI's `unknown_parameter`). `None` means absent everywhere: the SDKs send explicit nulls.
`protocol/validation.py` turns pydantic's errors into OpenAI's messages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_N = 10  # images per request
MAX_PARTIAL_IMAGES = 3
MAX_SEED = 2**32 - 1
MAX_STEPS = 200
MAX_GUIDANCE = 50.0
EXTENSIONS = ("steps", "guidance_scale", "negative_prompt", "scheduler")  # engine-dependent ones


class Extensions(BaseModel):
    """Darkroom's request extensions, shared by generations and edits (documented in docs/api.md; the
    SDKs send them with extra_body). Engines that do not honour one refuse it (`rules.py`); none is
    ever silently dropped. Subclasses add OpenAI's fields, in OpenAI's order."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    steps: int | None = Field(default=None, ge=1, le=MAX_STEPS)
    guidance_scale: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE)
    negative_prompt: str | None = None
    scheduler: str | None = None


class ImageGenerateRequest(Extensions):
    """Body of `POST /v1/images/generations` (openai-python `ImageGenerateParams`)."""

    prompt: str | None = None  # required; checked in rules so a null says "missing"
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    quality: Literal["standard", "hd", "low", "medium", "high", "auto"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=MAX_PARTIAL_IMAGES)
    size: str | None = None
    moderation: Literal["low", "auto"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None
    user: str | None = None


class InputTokensDetails(BaseModel):
    text_tokens: int
    image_tokens: int


class OutputTokensDetails(BaseModel):
    image_tokens: int
    text_tokens: int


class Usage(BaseModel):
    """Token figures for GPT image models (`postprocess/tokens.py` computes them)."""

    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class Image(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesResponse(BaseModel):
    """`ImagesResponse`: `created` plus one `Image` per output; echo fields and usage for GPT models."""

    created: int
    data: list[Image]
    background: Literal["transparent", "opaque"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    size: str | None = None
    quality: Literal["low", "medium", "high"] | None = None
    usage: Usage | None = None

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)  # bytes: no str round trip
