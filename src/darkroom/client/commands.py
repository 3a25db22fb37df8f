"""`darkroom generate`, `darkroom edit` and `darkroom vary`: one request each, its images saved.

Each command turns its flags (or, for `generate --from`, a sidecar plus overriding flags) into a `Call`,
sends it (`request.py`), saves every image with its sidecar (`files.py`) and prints the paths, one per
line, or with `--json` one JSON document. Failures print one line on stderr (`errors.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from . import files
from .errors import OK, ClientError, UsageError
from .options import DEFAULT_MODEL, apply_streaming, connection, fields_from_flags
from .progress import Progress
from .request import ENDPOINTS, Call, Result, send


def generate(args: argparse.Namespace) -> int:
    call, stem = _generate_call(args)
    return _run(args, call, stem or files.slug(call.body.get("prompt", "")))


def edit(args: argparse.Namespace) -> int:
    images, prompt = args.images, args.prompt
    body = {"prompt": prompt, "model": DEFAULT_MODEL, **fields_from_flags(args)}
    apply_streaming(body, args)
    call = Call("edits", body, [_input(path) for path in images], _input(args.mask) if args.mask else None)
    return _run(args, call, files.slug(prompt))


def vary(args: argparse.Namespace) -> int:
    body = {"model": args.model or "dall-e-2", **fields_from_flags(args)}
    call = Call("variations", body, [_input(args.image)])
    return _run(args, call, files.slug(Path(args.image).stem) + "-variation")


def _generate_call(args: argparse.Namespace) -> tuple[Call, str | None]:
    """The call to send, and the file-name stem a sidecar recorded (None: from the prompt)."""
    flags = fields_from_flags(args)
    if args.from_sidecar is None:
        if not args.prompt:
            raise UsageError("generate needs a PROMPT (or --from SIDECAR)")
        body = {"prompt": args.prompt, "model": DEFAULT_MODEL, **flags}
        apply_streaming(body, args)
        return Call("generations", body), None
    record = files.read_sidecar(Path(args.from_sidecar))
    endpoint = record.get("endpoint", "generations")
    if endpoint not in ENDPOINTS:
        raise UsageError(f"{args.from_sidecar}: unknown endpoint {endpoint!r}")
    body = dict(record["request"])
    if "seed" not in body and record.get("seed") is not None:
        body["seed"] = record["seed"]  # the seed the server drew: the same images again
    body.update(flags)
    if args.prompt:
        body["prompt"] = args.prompt
    apply_streaming(body, args, from_sidecar=True)
    images = [_input(path) for path in record.get("images") or []]
    call = Call(endpoint, body, images, _input(record["mask"]) if record.get("mask") else None)
    stem = record.get("stem") if isinstance(record.get("stem"), str) and not args.prompt else None
    return call, files.slug(stem) if stem else None


def _default_out(args: argparse.Namespace) -> Path:
    """Beside the sidecar for `--from` (the same images next to the first ones), else the current folder."""
    sidecar = getattr(args, "from_sidecar", None)
    return Path(sidecar).parent if sidecar else Path(".")


def _input(path: str) -> Path:
    found = Path(path)
    if not found.is_file():
        raise UsageError(f"no such image file: {path}")
    return found.resolve()


def _run(args: argparse.Namespace, call: Call, stem: str) -> int:
    client, base_url = connection(args)
    progress = Progress()
    try:
        result = send(client, call, progress, base_url)
        out = Path(args.out) if args.out is not None else _default_out(args)
        saved = save(result, call, out, stem, base_url, overwrite=args.overwrite)
    finally:
        progress.clear()
    if args.json:
        print(json.dumps(summary(result, call, saved, base_url), indent=2))
    else:
        for path in saved:
            print(path)
        seed = f", seed {result.seed}" if result.seed is not None else ""
        request = f", request {result.request_id}" if result.request_id else ""
        print(f"darkroom: {len(saved)} image{'s' * (len(saved) != 1)} saved{seed}{request}", file=sys.stderr)
    return OK


def save(result: Result, call: Call, out: Path, stem: str, base_url: str, *, overwrite: bool,
         extra: dict[str, Any] | None = None, with_seed: bool = True) -> list[Path]:
    """Write each image (`<stem>-<seed>-<i>.<ext>`, or `<stem>-<i>` without the seed) and its sidecar;
    returns the image paths."""
    if not result.images:
        raise ClientError(f"the response held no images{_request(result)}")
    seed_part = f"-{result.seed}" if result.seed is not None and with_seed else ""
    paths = []
    for i, data in enumerate(result.images):
        try:
            path = files.save_image(out, f"{stem}{seed_part}-{i}", data, overwrite=overwrite)
            files.write_sidecar(path, sidecar(result, call, base_url, i, path, {"stem": stem, **(extra or {})}))
        except OSError as exc:
            raise ClientError(f"cannot write to {out}: {exc.strerror or exc}") from None
        paths.append(path)
    return paths


def sidecar(result: Result, call: Call, base_url: str, index: int, path: Path,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `generate --from` needs to send the same request again, and what came back."""
    record: dict[str, Any] = {
        "file": path.name,
        "stem": None,  # the name's stem (the prompt's slug, a batch line's id), for `--from`
        "endpoint": call.endpoint,
        "base_url": base_url,
        "request": call.body,
        "images": [str(p) for p in call.images],
        "mask": str(call.mask) if call.mask else None,
        "model": call.body.get("model"),
        "seed": result.seed,
        "image_index": index,
        "image_seed": result.seed + index if result.seed is not None else None,
        "usage": result.usage,
        "created": result.created,
        "request_id": result.request_id,
        **result.meta,
    }
    return {**record, **(extra or {})}


def summary(result: Result, call: Call, saved: list[Path], base_url: str) -> dict[str, Any]:
    """The `--json` document."""
    return {
        "files": [str(p) for p in saved],
        "sidecars": [str(files.sidecar_path(p)) for p in saved],
        "endpoint": call.endpoint,
        "base_url": base_url,
        "model": call.body.get("model"),
        "seed": result.seed,
        "seeds": [result.seed + i for i in range(len(saved))] if result.seed is not None else None,
        "usage": result.usage,
        "created": result.created,
        "request_id": result.request_id,
        **result.meta,
    }


def _request(result: Result) -> str:
    return f" (request {result.request_id})" if result.request_id else ""
