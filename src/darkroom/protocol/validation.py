"""Turn a raw JSON body into a strict protocol model, with OpenAI's error messages and codes.

Messages follow the ones OpenAI's API is seen to send:
    Unknown parameter: 'foo'.
    Invalid type for 'n': expected an integer, but got a string instead.
    Invalid value: 'ultra'. Supported values are: 'low', 'medium', 'high' and 'auto'.
    Invalid 'n': integer above maximum value. Expected a value <= 10, but got 11 instead.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import (
    InvalidJSON,
    InvalidRequest,
    InvalidType,
    MissingParameter,
    UnknownParameter,
)

M = TypeVar("M", bound=BaseModel)

_JSON_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a decimal", list: "an array",
               dict: "an object", type(None): "null"}
_EXPECTED = {"int": "an integer", "string": "a string", "bool": "a boolean", "float": "a decimal"}
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
    "HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)"
)


def parse_json_body(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """Decode and validate a JSON request body into `model`."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise InvalidRequest(
            f"Invalid Content-Type header ({content_type or 'none'}); expected 'application/json'.",
            param=None,
            code="invalid_content_type",
        )
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise InvalidJSON("The request body is not valid UTF-8.") from None
    except json.JSONDecodeError:
        raise InvalidJSON(_BAD_JSON) from None
    except RecursionError:
        raise InvalidJSON("The JSON body of your request is nested too deeply.") from None
    except ValueError:  # an integer past Python's conversion limit (4,300 digits)
        raise InvalidJSON("The JSON body of your request holds a number too long to read.") from None
    if not isinstance(body, dict):
        raise InvalidJSON(f"The request body must be a JSON object, but got {_json_name(body)} instead.")
    if _SURROGATE_ESCAPE.search(raw):
        _refuse_lone_surrogates(body, ())
    return validate(body, model)


def _refuse_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, but they are not JSON (RFC 8259)."""
    raise InvalidJSON(f"The JSON body of your request holds {name}, which is not a JSON number.")


# A \uD800-\uDFFF escape: JSON may spell half of a UTF-16 pair, which alone is not a character (and
# cannot be written as UTF-8). Raw UTF-8 cannot hold one, so only bodies with such an escape are walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(value: Any, path: tuple[str, ...]) -> None:
    """A 400 naming the first string (or key) in `value` that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            param = ".".join(path) or None
            raise InvalidRequest(f"Invalid value for '{param}': it contains a lone UTF-16 surrogate (an unpaired "
                                 "\\uD800-\\uDFFF escape), which is not a character.", param=param,
                                 code="invalid_value") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_lone_surrogates(key, path)
            _refuse_lone_surrogates(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_lone_surrogates(item, (*path, str(index)))


def validate(body: dict[str, Any], model: type[M]) -> M:
    """Validate a decoded body; the first problem becomes the error (as OpenAI reports one at a time)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _translate(exc.errors()[0]) from None


def _translate(err: dict[str, Any]) -> InvalidRequest:
    param = ".".join(str(part) for part in err["loc"]) or None
    kind: str = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        return UnknownParameter(f"Unknown parameter: '{param}'.", param=param)
    if kind == "missing":
        return MissingParameter(f"Missing required parameter: '{param}'.", param=param)
    if kind == "literal_error":
        expected = err["ctx"]["expected"].replace(" or ", " and ")
        return InvalidRequest(f"Invalid value: {_show(value)}. Supported values are: {expected}.", param=param)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _out_of_range(param, kind, err["ctx"], value)
    expected = _EXPECTED.get(kind.split("_", 1)[0], "a valid value")
    if value is not None and type(value) in _JSON_NAMES:
        return InvalidType(
            f"Invalid type for '{param}': expected {expected}, but got {_json_name(value)} instead.", param=param
        )
    return InvalidRequest(f"Invalid '{param}': {err['msg']}.", param=param)


def _out_of_range(param: str | None, kind: str, ctx: dict[str, Any], value: Any) -> InvalidRequest:
    number = "decimal" if any(isinstance(v, float) for v in (*ctx.values(), value)) else "integer"
    if kind.startswith("greater"):
        where, sign, bound = "below minimum", ">=" if "ge" in ctx else ">", ctx.get("ge", ctx.get("gt"))
    else:
        where, sign, bound = "above maximum", "<=" if "le" in ctx else "<", ctx.get("le", ctx.get("lt"))
    return InvalidRequest(
        f"Invalid '{param}': {number} {where} value. Expected a value {sign} {bound}, but got {value} instead.",
        param=param, code=f"{number}_{where.replace('imum', '').replace(' ', '_')}_value",
    )


def check_range(name: str, value: int, low: int, high: int) -> None:
    """An integer query parameter outside [low, high] is a 400 worded as OpenAI words a body's (`integer_below_min_value`)."""
    if value < low:
        raise _out_of_range(name, "greater_than_equal", {"ge": low}, value)
    if value > high:
        raise _out_of_range(name, "less_than_equal", {"le": high}, value)


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), "a value of another type")


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)
