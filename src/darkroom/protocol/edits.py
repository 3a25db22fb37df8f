"""Wire models for `POST /v1/images/edits` and `/v1/images/variations`, and the form reading they share.

The SDKs send both endpoints as multipart forms (spec section 7), where every value is a string:
ints arrive as "2", booleans as "true"/"false", and Python's `None` as "" (which means absent).
`from_form` turns a parsed form into the same strict models a JSON body is validated against, so
one set of rules serves both. Files are kept apart (`Uploads`): the rules decode them.

Edits also have a JSON variant (`images[].image_url` as data URLs); `file_id` references point at
OpenAI's Files API, which this server does not have, and are refused by the rules.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidRequest, InvalidType, MissingParameter, UnknownParameter
from ..postprocess.sources import decode_data_url
from .images import MAX_N, MAX_PARTIAL_IMAGES, MAX_SEED, Extensions
from .multipart import Form, UploadedFile
from .validation import validate

M = TypeVar("M", bound=BaseModel)
MAX_EDIT_IMAGES = 16
# What a form field may spell a number as: ASCII digits, as JSON would write it. Python's int() and float()
# would also take " 2 ", "1_000", other scripts' digits, "nan" and "inf", which no client means to send.
NUMBERS = {int: re.compile(r"-?[0-9]+", re.ASCII),
           float: re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)}


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ImageEditRequest(Extensions):
    """The scalar fields of an edit (openai-python `ImageEditParams`), multipart or JSON; plus the extensions."""

    prompt: str | None = None  # required; checked in the rules so that null reads as missing
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    size: str | None = None
    quality: Literal["standard", "low", "medium", "high", "auto"] | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: Literal["transparent", "opaque", "auto"] | None = None
    input_fidelity: Literal["high", "low"] | None = None
    moderation: Literal["low", "auto"] | None = None  # in OpenAI's JSON variant; accepted in forms too
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=MAX_PARTIAL_IMAGES)
    user: str | None = None


class ImageRef(_Fields):
    """`ImageRefParam`: a data URL, or an OpenAI file id (refused here)."""

    image_url: str | None = Field(default=None, max_length=20_971_520)
    file_id: str | None = None


class ImageEditJSONRequest(ImageEditRequest):
    """The JSON variant of an edit (`EditImageBodyJsonParam`)."""

    images: list[ImageRef] | None = None  # required, 1-16; checked in the rules
    mask: ImageRef | None = None


class ImageVariationRequest(_Fields):
    """The scalar fields of a variation (openai-python `ImageCreateVariationParams`)."""

    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=MAX_N)
    response_format: Literal["url", "b64_json"] | None = None
    size: str | None = None
    user: str | None = None
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)  # Darkroom extension


@dataclass(frozen=True, slots=True)
class Upload:
    """One input image as received, before anything decodes it."""

    param: str  # how errors name it: "image", "image[2]", "images[0].image_url", "mask"
    data: bytes


@dataclass(frozen=True, slots=True)
class Uploads:
    images: list[Upload] = field(default_factory=list)
    mask: Upload | None = None


def uploads_from_json(req: ImageEditJSONRequest) -> Uploads:
    """The images of a JSON edit: data URLs decoded to bytes (blocking: call it in a thread)."""
    if not req.images:
        raise MissingParameter("Missing required parameter: 'images'.", param="images")
    if len(req.images) > MAX_EDIT_IMAGES:
        raise InvalidRequest(f"Invalid 'images': array too long. Expected an array with maximum length "
                             f"{MAX_EDIT_IMAGES}, but got an array with length {len(req.images)} instead.",
                             param="images", code="array_above_max_length")
    images = [_ref(ref, f"images[{i}]") for i, ref in enumerate(req.images)]
    return Uploads(images=images, mask=_ref(req.mask, "mask") if req.mask is not None else None)


def _ref(ref: ImageRef, where: str) -> Upload:
    if ref.file_id is not None:
        raise InvalidRequest(
            f"Invalid '{where}.file_id': file references need OpenAI's Files API, which this server does not "
            f"have. Send the image inline as a data URL in '{where}.image_url' instead.",
            param=f"{where}.file_id", code="unsupported_value")
    if ref.image_url is None:
        raise MissingParameter(f"Missing required parameter: '{where}.image_url'.", param=f"{where}.image_url")
    param = f"{where}.image_url"
    return Upload(param, decode_data_url(ref.image_url, param))


# ---- forms ---------------------------------------------------------------------------------------


def from_form(form: Form, model: type[M], file_fields: tuple[str, ...]) -> tuple[M, Uploads]:
    """Validate a multipart form against `model`; files may only come in `file_fields`."""
    texts = dict(form.fields)
    for name, values in form.fields.items():
        if _base(name) in file_fields:
            if values == [""]:  # `curl -F mask=`: absent, like any other empty value
                del texts[name]
                continue
            raise InvalidRequest(f"Invalid '{_base(name)}': expected a file upload, but got a text field.",
                                 param=_base(name))
    body = {name: _scalar(name, values, model) for name, values in texts.items()}
    parsed = validate({name: value for name, value in body.items() if value is not None}, model)
    return parsed, _uploads(form.files, file_fields)


def _uploads(files: dict[str, list[UploadedFile]], allowed: tuple[str, ...]) -> Uploads:
    images: list[UploadedFile] = []
    for name, parts in files.items():
        base = _base(name)
        if base not in allowed:
            raise UnknownParameter(f"Unknown parameter: '{name}'.", param=name)
        if base == "image":
            images.extend(parts)
    masks = files.get("mask", [])
    if len(masks) > 1:
        raise InvalidRequest("Invalid 'mask': expected one file, but got several.", param="mask")
    if len(images) > MAX_EDIT_IMAGES:
        raise InvalidRequest(
            f"Invalid 'image': too many images. Expected at most {MAX_EDIT_IMAGES}, but got {len(images)}.",
            param="image",
        )
    name = "image" if len(images) == 1 else "image[{}]"
    return Uploads(
        images=[Upload(name.format(i), part.data) for i, part in enumerate(images)],
        mask=Upload("mask", masks[0].data) if masks else None,
    )


def _base(name: str) -> str:
    return name.removesuffix("[]")


def _scalar(name: str, values: list[str], model: type[BaseModel]) -> Any:
    """A form value in the type `model` declares for it; "" is absent, as the Python SDK sends None."""
    if len(values) > 1:
        raise InvalidRequest(f"Invalid '{name}': expected one value, but got {len(values)}.", param=name)
    value = values[0]
    info = model.model_fields.get(name)
    if info is None:
        raise UnknownParameter(f"Unknown parameter: '{name}'.", param=name)
    if value == "":
        return None
    kinds = _kinds(info.annotation)
    if bool in kinds:
        if value in ("true", "false"):
            return value == "true"
        raise InvalidType(f"Invalid type for '{name}': expected a boolean ('true' or 'false'), but got '{value}'.",
                          param=name)
    for kind, word in ((int, "an integer"), (float, "a decimal")):
        if kind in kinds:
            try:
                if NUMBERS[kind].fullmatch(value):
                    return kind(value)
            except ValueError:  # more digits than int() converts (4300): no field's range comes near
                pass
            shown = value if len(value) <= 40 else f"{value[:40]}... ({len(value)} characters)"
            raise InvalidType(f"Invalid type for '{name}': expected {word}, but got '{shown}'.", param=name)
    return value


def _kinds(annotation: Any) -> set[Any]:
    """The plain types an annotation admits (`int | None` -> {int, NoneType})."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_kinds(arg) for arg in get_args(annotation)))
    if get_origin(annotation) is Literal:
        return {str}
    return {annotation}
