"""`darkroom batch`: concurrency, a bad line and a refused request, the manifest, and an exact resume."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from .conftest import darkroom, requests_served

LINES = [
    {"prompt": "a red fox", "id": "fox", "size": "64x64"},
    {"prompt": "a blue whale", "size": "64x48", "seed": 7},
    "this line is not JSON",
    {"prompt": "a tiny icon", "id": "icon", "size": "13x13", "model": "gpt-image-1"},  # refused: a 400
    {"prompt": "green hills", "n": 2, "size": "64x64", "output_format": "jpeg"},
]


def _write(path: Path, lines: list) -> None:  # noqa: ANN401
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")


def test_batch_records_failures_and_resumes_only_what_is_not_done(live, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    _write(prompts, LINES)
    first = darkroom(live, "batch", "prompts.jsonl", "-m", "gpt-image-tiny", "--concurrency", "2", "--out", "out",
                     cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # a line failed
    assert "line 3: invalid: not JSON" in first.stderr
    [refused] = [line for line in first.stderr.splitlines() if "line 4: failed" in line]
    assert "400 invalid_value (size)" in refused and "(request req_" in refused
    manifest = [json.loads(line) for line in (tmp_path / "out/manifest.jsonl").read_text().splitlines()]
    by_line = {entry["line"]: entry for entry in manifest}
    assert {n: e["status"] for n, e in by_line.items()} == {1: "done", 2: "done", 3: "invalid", 4: "failed",
                                                            5: "done"}
    assert by_line[1]["files"] == ["fox-0.png"] and by_line[2]["files"] == ["a-blue-whale-7-0.png"]
    assert len(by_line[5]["files"]) == 2 and all(f.endswith(".jpg") for f in by_line[5]["files"])
    for entry in (by_line[1], by_line[2], by_line[5]):
        assert entry["model"] == "gpt-image-tiny" and entry["usage"]["total_tokens"] > 0
        assert isinstance(entry["seed"], int) and entry["request_id"].startswith("req_")
    with Image.open(tmp_path / "out/a-blue-whale-7-0.png") as image:
        assert image.size == (64, 48)
    assert sorted(first.stdout.split()) == sorted(f"out/{f}" for n in (1, 2, 5) for f in by_line[n]["files"])
    done_files = {f: (tmp_path / "out" / f).stat().st_mtime_ns for n in (1, 2, 5) for f in by_line[n]["files"]}

    # fix the refused line and run again: only it is sent; the done lines are skipped, their files untouched
    LINES[3] = {"prompt": "a tiny icon", "id": "icon", "size": "64x64"}
    _write(prompts, LINES)
    before = requests_served(live, "gpt-image-tiny") + requests_served(live, "gpt-image-1")
    again = darkroom(live, "batch", "prompts.jsonl", "-m", "gpt-image-tiny", "--out", "out", "--json", cwd=tmp_path)
    assert again.returncode == 1, again.stderr  # line 3 is still not JSON
    assert requests_served(live, "gpt-image-tiny") + requests_served(live, "gpt-image-1") == before + 1
    report = json.loads(again.stdout)
    assert (report["done"], report["skipped"], report["failed"], report["invalid"]) == (1, 3, 0, 1)
    assert [e["status"] for e in report["lines"] if e["line"] == 4] == ["done"]
    assert {f: (tmp_path / "out" / f).stat().st_mtime_ns for f in done_files} == done_files
    with Image.open(tmp_path / "out/icon-0.png") as image:
        assert image.size == (64, 64)

    # without the bad line every line is done: exit 0, nothing sent
    _write(prompts, [line for line in LINES if not isinstance(line, str)])
    last = darkroom(live, "batch", "prompts.jsonl", "-m", "gpt-image-tiny", "--out", "out", cwd=tmp_path)
    assert last.returncode == 0, last.stderr
    assert "4 of 4 lines done before (manifest): skipped" in last.stderr and last.stdout == ""
    assert requests_served(live, "gpt-image-tiny") + requests_served(live, "gpt-image-1") == before + 1
