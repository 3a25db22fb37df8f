"""`darkroom batch PROMPTS.jsonl`: one generation per line, K at a time, resumable, with a manifest.

A line is a JSON object with `prompt` and any generation fields under the API's names (`model`, `n`,
`size`, `quality`, `output_format`, `output_compression`, `background`, `moderation`, `seed`, ...), sent
as they are (the server honours or refuses each), plus an optional `id` (or `name`) that names its files
`<id>-<i>.<ext>`; without one they are named like `generate`'s. Flags given to `batch` (`-m`, `--size`,
...) are defaults for lines that do not set the field. A line's key is its `id`, else a hash of the
request it makes, so a line that is edited is a new line.

`<out>/manifest.jsonl` gets one entry per line run (appended as each finishes, so an interrupted batch
keeps what it did): key, line number, status (`done`, `failed`, `invalid`), prompt, model, seed, usage,
files, request id, error. A later run skips each line whose latest entry is `done` and whose files are
all still there, and runs the others again: failed lines, lines never reached, lines whose files were
deleted. A line that is not JSON or has no prompt is reported with its number; the others still run.
Retries are the SDK's (`--retries`). The exit status is 1 when any line failed or was invalid.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import files
from .commands import save
from .errors import OK, REQUEST_FAILED, UNREACHABLE, ClientError, UsageError, describe
from .options import DEFAULT_MODEL, connection, fields_from_flags
from .progress import Progress, Quiet
from .request import Call, send

MANIFEST = "manifest.jsonl"
_NAMING = ("id", "name")


@dataclass
class Line:
    number: int  # 1-based, as an editor shows it
    key: str
    name: str | None  # the `id`/`name`, for file names
    call: Call


class Batch:
    """One run over a prompts file: the lines to do, the manifest, the counts for the bar."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out or ".")
        self.manifest = self.out / MANIFEST
        self.progress = Progress()
        self.lock = threading.Lock()
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "invalid": 0}
        self.entries: list[dict[str, Any]] = []
        self.unreachable = 0

    def run(self) -> int:
        lines, invalid = read_lines(Path(self.args.prompts), fields_from_flags(self.args))
        self.total = len(lines) + len(invalid)
        self.out.mkdir(parents=True, exist_ok=True)
        finished = latest_entries(self.manifest)
        for number, error in invalid:
            self._record({"key": None, "line": number, "status": "invalid", "error": error}, "invalid")
        todo = [line for line in lines if not self._skip(line, finished.get(line.key))]
        if self.counts["skipped"]:
            self.progress.line(f"{self.counts['skipped']} of {self.total} lines done before (manifest): skipped")
        client, self.base_url = connection(self.args)
        pool = ThreadPoolExecutor(max_workers=self.args.concurrency, thread_name_prefix="darkroom-batch")
        try:
            for _ in pool.map(lambda line: self._one(client, line), todo):
                pass
        except KeyboardInterrupt:  # lines not started stay unsent; the manifest has every line that finished
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            pool.shutdown()
            self.progress.clear()
        return self._report()

    def _skip(self, line: Line, entry: dict[str, Any] | None) -> bool:
        if entry is None or entry.get("status") != "done" or not entry.get("files"):
            return False
        if not all((self.out / name).is_file() for name in entry["files"]):
            return False
        with self.lock:
            self.counts["skipped"] += 1
            self.entries.append({**entry, "skipped": True})
            self._bar()
        return True

    def _one(self, client: Any, line: Line) -> None:  # noqa: ANN401 - openai.OpenAI
        base = {"key": line.key, "line": line.number, "id": line.name, "prompt": line.call.body.get("prompt"),
                "model": line.call.body.get("model")}
        try:
            result = send(client, line.call, Quiet(), self.base_url)
            stem = files.slug(line.name) if line.name else files.slug(str(line.call.body.get("prompt", "")))
            paths = save(result, line.call, self.out, stem, self.base_url, overwrite=self.args.overwrite,
                         extra={"batch": {"file": str(Path(self.args.prompts).resolve()), "line": line.number,
                                          "key": line.key}}, with_seed=line.name is None)
        except Exception as exc:  # every failure of one line is that line's, never the batch's
            error = describe(exc, self.base_url)
            with self.lock:
                self.unreachable += error.exit_code == UNREACHABLE
            self._record({**base, "status": "failed", "error": error.message}, "failed")
            return
        self._record({**base, "status": "done", "seed": result.seed, "usage": result.usage,
                      "files": [path.name for path in paths], "request_id": result.request_id,
                      "created": result.created}, "done")

    def _record(self, entry: dict[str, Any], outcome: str) -> None:
        entry = {**entry, "finished_at": round(time.time(), 3)}
        with self.lock:
            with self.manifest.open("a") as file:
                file.write(json.dumps(entry) + "\n")
            self.counts[outcome] += 1
            self.entries.append(entry)
            where = f"[{sum(self.counts.values())}/{self.total}] line {entry['line']}"
            if outcome == "done":
                self.progress.line(f"{where}: done: {', '.join(entry['files'])}")
            else:
                self.progress.line(f"{where}: {outcome}: {entry['error']}")
            self._bar()

    def _bar(self) -> None:
        c = self.counts
        self.progress.bar(c["done"], c["failed"] + c["invalid"], c["skipped"], self.total)

    def _report(self) -> int:
        c = self.counts
        if self.args.json:
            print(json.dumps({"manifest": str(self.manifest), "total": self.total, **c,
                              "lines": sorted(self.entries, key=lambda e: e["line"])}, indent=2))
        else:
            for entry in sorted(self.entries, key=lambda e: e["line"]):
                if entry.get("status") == "done" and not entry.get("skipped"):
                    for name in entry["files"]:
                        print(self.out / name)
        failed = c["failed"] + c["invalid"]
        self.progress.line(f"{c['done']} done, {c['skipped']} skipped (done before), {c['failed']} failed, "
                           f"{c['invalid']} invalid, of {self.total} lines; manifest {self.manifest}")
        if failed and self.unreachable == failed:
            return UNREACHABLE
        return REQUEST_FAILED if failed else OK


def read_lines(path: Path, defaults: dict[str, Any]) -> tuple[list[Line], list[tuple[int, str]]]:
    """The file's requests, and its unusable lines as (line number, why). Blank lines are ignored."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    lines, invalid, keys = [], [], set()
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = parse_line(number, raw, defaults)
        except ClientError as exc:
            invalid.append((number, exc.message))
            continue
        if line.key in keys:
            invalid.append((number, f"repeats the key of an earlier line ({line.key}): give each line its own id"))
            continue
        keys.add(line.key)
        lines.append(line)
    return lines, invalid


def parse_line(number: int, raw: str, defaults: dict[str, Any]) -> Line:
    try:
        item = json.loads(raw)
    except ValueError as exc:
        raise ClientError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise ClientError("not a JSON object")
    if not isinstance(item.get("prompt"), str) or not item["prompt"].strip():
        raise ClientError("no prompt (a line needs a non-empty \"prompt\" string)")
    name = next((item[k] for k in _NAMING if item.get(k) is not None), None)
    if name is not None and (not isinstance(name, str | int) or not str(name).strip()):
        raise ClientError("'id' / 'name' must be a non-empty string")
    body = {"model": DEFAULT_MODEL, **defaults, **{k: v for k, v in item.items() if k not in _NAMING}}
    key = f"id:{name}" if name is not None else "sha256:" + hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    return Line(number, key, str(name) if name is not None else None, Call("generations", body))


def latest_entries(manifest: Path) -> dict[str, dict[str, Any]]:
    """Each key's last manifest entry (lines that cannot be read are ignored: a run cut off mid-write)."""
    latest: dict[str, dict[str, Any]] = {}
    if not manifest.exists():
        return latest
    for raw in manifest.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            latest[entry["key"]] = entry
    return latest


def batch(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    return Batch(args).run()
