"""An in-memory, streaming reader for multipart/form-data bodies (the edits and variations endpoints).

Starlette's `request.form()` spools big files to temporary files. This reader keeps every part in
memory and never touches the disk. The middleware's body cap bounds the total. The per-part limits
are checked as bytes arrive, so an oversized upload is refused at the chunk that crosses the limit.
python-multipart's low-level `MultipartParser` does the framing (boundaries, part headers) through
callbacks. This module collects what the callbacks report into a `Form`.

What the SDKs send (spec section 7): Python (httpx) uses a hex boundary, sends text parts without a
Content-Type and file parts named `upload` when they are raw bytes. Node uses an `openai-<random>`
boundary, types file parts `application/octet-stream` and names them `unknown_file`. A part's
Content-Type is recorded but trusted by nobody: image formats are sniffed from the bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..errors import DarkroomError, InvalidRequest, PayloadTooLarge

_IDENTITY_ENCODINGS = (b"binary", b"8bit", b"7bit")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part. `content_type` is as sent; nothing downstream relies on it."""

    field: str  # the form key as sent: "image", "image[]", "mask"
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Form:
    """A parsed form. Values keep their arrival order within each key."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[UploadedFile]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FormLimits:
    max_file_bytes: int = 50 * 2**20  # any one file part
    max_field_bytes: int = 160 * 2**10  # any one text part: a 32,000-character prompt is up to 128,000 UTF-8 bytes
    max_parts: int = 64


@dataclass(slots=True)
class _Part:
    name: str
    filename: str | None  # None: a text part
    content_type: str | None
    limit: int
    data: bytearray = field(default_factory=bytearray)


class MultipartReader:
    """Feed a body chunk by chunk (chunks may split anywhere), then `finish()` for the `Form`."""

    def __init__(self, content_type: str | None, limits: FormLimits = FormLimits()) -> None:
        self._limits = limits
        self._form = Form()
        self._part: _Part | None = None
        self._parts = 0
        self._ended = False
        self._error: DarkroomError | None = None
        self._headers: dict[bytes, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._parser = _parser(content_type, {
            "on_part_begin": self._on_part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        })

    def feed(self, chunk: bytes) -> None:
        """Parse the next chunk. Raises as soon as a limit is crossed; after an error, raises it again."""
        if self._error is not None:
            raise self._error
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            self._error = InvalidRequest(f"The multipart body is malformed: {exc}.", code="invalid_multipart")
        except DarkroomError as exc:
            self._error = exc
        if self._error is not None:
            raise self._error

    def finish(self) -> Form:
        """The parsed form. Raises if the body stopped before its closing boundary."""
        if self._error is not None:
            raise self._error
        if not self._ended:
            raise InvalidRequest(
                "The multipart body is truncated: it ends before the closing boundary.", code="invalid_multipart"
            )
        return self._form

    # python-multipart callbacks, in the order it calls them for each part

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > self._limits.max_parts:
            raise InvalidRequest(
                f"The multipart form has too many parts: the limit is {self._limits.max_parts}.",
                code="too_many_parts",
            )
        self._headers = {}

    def _on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value).strip(b" \t")
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        self._part = _start_part(self._headers, self._limits)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        assert part is not None
        if len(part.data) + (end - start) > part.limit:
            raise _too_large(part)
        part.data += memoryview(data)[start:end]

    def _on_part_end(self) -> None:
        part = self._part
        assert part is not None
        self._part = None
        if part.filename is not None:
            upload = UploadedFile(part.name, part.filename, part.content_type, bytes(part.data))
            self._form.files.setdefault(part.name, []).append(upload)
            return
        try:
            text = part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(f"Invalid '{part.name}': the value is not valid UTF-8.", param=part.name) from None
        self._form.fields.setdefault(part.name, []).append(text)

    def _on_end(self) -> None:
        self._ended = True


async def read_form(
    chunks: AsyncIterator[bytes], content_type: str | None, limits: FormLimits = FormLimits()
) -> Form:
    """Feed every chunk (e.g. `request.stream()`), then finish."""
    reader = MultipartReader(content_type, limits)
    async for chunk in chunks:
        reader.feed(chunk)
    return reader.finish()


def _parser(content_type: str | None, callbacks: dict[str, Callable[..., None]]) -> MultipartParser:
    """The low-level parser for this Content-Type, or the 400 that says what was expected."""
    try:
        media_type, options = parse_options_header(content_type)
        if media_type == b"multipart/form-data" and options.get(b"boundary"):
            return MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    except (FormParserError, UnicodeEncodeError):  # a boundary over 256 bytes; a header beyond latin-1
        pass
    raise InvalidRequest(
        f"Invalid Content-Type header ({content_type or 'none'}); expected 'multipart/form-data' with a boundary.",
        code="invalid_content_type",
    )


def _start_part(headers: dict[bytes, bytes], limits: FormLimits) -> _Part:
    """Read a part's name and filename from its Content-Disposition header."""
    _, options = parse_options_header(headers.get(b"content-disposition"))  # values keep the raw bytes
    raw_name = options.get(b"name")
    if not raw_name:
        raise InvalidRequest(
            "Every part of a multipart form needs a name: Content-Disposition: form-data; name=\"...\".",
            code="invalid_multipart",
        )
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("A multipart part name is not valid UTF-8.", code="invalid_multipart") from None
    encoding = headers.get(b"content-transfer-encoding", b"binary").lower()
    if encoding not in _IDENTITY_ENCODINGS:
        raise InvalidRequest(
            f"Invalid '{name}': Content-Transfer-Encoding {encoding.decode('latin-1')!r} is not supported; "
            "send the raw bytes.", param=name, code="invalid_multipart",
        )
    raw_filename = options.get(b"filename")
    content_type = headers.get(b"content-type")
    return _Part(
        name=name,
        filename=None if raw_filename is None else raw_filename.decode("utf-8", errors="replace"),
        content_type=None if content_type is None else content_type.decode("latin-1"),
        limit=limits.max_field_bytes if raw_filename is None else limits.max_file_bytes,
    )


def _too_large(part: _Part) -> PayloadTooLarge:
    if part.filename is None:
        message = f"Field '{part.name}' is too large: the limit is {_size(part.limit)} per text field."
    else:
        message = f"File '{part.name}' is too large: the limit is {_size(part.limit)} per file."
    return PayloadTooLarge(message, param=part.name)


def _size(limit: int) -> str:
    if limit % 2**20 == 0:
        return f"{limit // 2**20} MB"
    if limit % 2**10 == 0:
        return f"{limit // 2**10} KB"
    return f"{limit:,} bytes"
