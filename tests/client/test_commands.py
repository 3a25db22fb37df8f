"""`darkroom generate | edit | vary` as a user runs them: a real server, the CLI as a subprocess, the
saved files decoded with Pillow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import darkroom

PROMPT = "hero image for a todo app"


def _paths(done) -> list[Path]:  # noqa: ANN001 - CompletedProcess
    return [Path(line) for line in done.stdout.splitlines()]


def test_generate_saves_n_images_of_the_size_and_format_with_sidecars(live, tmp_path: Path) -> None:
    done = darkroom(live, "generate", PROMPT, "-m", "gpt-image-tiny", "-n", "2", "--size", "96x64",
                    "--format", "webp", "--compression", "80", "--out", "hero", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    paths = _paths(done)
    assert len(paths) == 2
    seed = json.loads((tmp_path / f"{paths[0]}.json").read_text())["seed"]
    assert [p.name for p in paths] == [f"hero-image-for-a-todo-app-{seed}-{i}.webp" for i in range(2)]
    for i, path in enumerate(paths):
        with Image.open(tmp_path / path) as image:
            assert (image.format, image.size) == ("WEBP", (96, 64))
        sidecar = json.loads((tmp_path / f"{path}.json").read_text())
        assert sidecar["request"] == {"prompt": PROMPT, "model": "gpt-image-tiny", "n": 2, "size": "96x64",
                                      "output_format": "webp", "output_compression": 80, "stream": True,
                                      "partial_images": 2}
        assert sidecar["base_url"] == live.v1 and sidecar["endpoint"] == "generations"
        assert (sidecar["model"], sidecar["seed"], sidecar["image_index"], sidecar["image_seed"]) == (
            "gpt-image-tiny", seed, i, seed + i)
        assert sidecar["request_id"].startswith("req_") and sidecar["request_id"] in done.stderr
        assert sidecar["usage"]["output_tokens"] > 0 and sidecar["usage"]["total_tokens"] > 0
        assert (sidecar["size"], sidecar["output_format"]) == ("96x64", "webp")
    # streamed: the plain-line progress (stderr is not a terminal here) shows the queue and each partial
    lines = done.stderr.splitlines()
    assert lines[1].startswith(f"darkroom: queued (seed {seed}, request req_")
    for k in (1, 2):
        for i in (1, 2):
            assert f"darkroom: partial {k} of 2, image {i} of 2" in lines
    assert lines[-1].startswith("darkroom: 2 images saved")


def test_formats_jpeg_and_png_and_a_dall_e_model_without_streaming(live, tmp_path: Path) -> None:
    jpeg = darkroom(live, "generate", "a lighthouse", "-m", "gpt-image-tiny", "--size", "64x48", "--format", "jpeg",
                    "--no-stream", cwd=tmp_path)
    assert jpeg.returncode == 0, jpeg.stderr
    [path] = _paths(jpeg)
    assert path.suffix == ".jpg" and "partial" not in jpeg.stderr and "generating" in jpeg.stderr
    with Image.open(tmp_path / path) as image:
        assert (image.format, image.size) == ("JPEG", (64, 48))
    assert "stream" not in json.loads((tmp_path / f"{path}.json").read_text())["request"]
    # dall-e-2 answers with a url by default: the client fetches the signed link
    png = darkroom(live, "generate", "a lighthouse", "-m", "dall-e-2", "--size", "256x256", cwd=tmp_path)
    assert png.returncode == 0, png.stderr
    [path] = _paths(png)
    assert "partial" not in png.stderr
    with Image.open(tmp_path / path) as image:
        assert (image.format, image.size) == ("PNG", (256, 256))


def test_from_sidecar_reproduces_the_pixels_and_nothing_is_overwritten(live, tmp_path: Path) -> None:
    first = darkroom(live, "generate", "a red kite over hills", "-m", "gpt-image-tiny", "-n", "2", "--size", "64x64",
                     cwd=tmp_path)  # no --seed: the server draws one and the sidecar records it
    assert first.returncode == 0, first.stderr
    originals = _paths(first)
    before = {p: (tmp_path / p).read_bytes() for p in originals}
    again = darkroom(live, "generate", "--from", f"{originals[1]}.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    copies = _paths(again)
    assert [p.name for p in copies] == [p.stem + "_2.png" for p in originals]  # the next free names
    for original, copy in zip(originals, copies, strict=True):
        assert (tmp_path / original).read_bytes() == before[original]  # untouched
        assert np.array_equal(np.asarray(Image.open(tmp_path / original)), np.asarray(Image.open(tmp_path / copy)))
    sent = json.loads((tmp_path / f"{copies[0]}.json").read_text())["request"]
    assert sent["seed"] == json.loads((tmp_path / f"{originals[0]}.json").read_text())["seed"]
    # flags given with --from override the sidecar's fields; --overwrite replaces the same names
    over = darkroom(live, "generate", "--from", f"{originals[0]}.json", "-n", "1", "--format", "jpeg",
                    "--overwrite", cwd=tmp_path)
    assert over.returncode == 0, over.stderr
    [jpeg] = _paths(over)
    assert jpeg == originals[0].with_suffix(".jpg")
    with Image.open(tmp_path / jpeg) as image:
        assert image.format == "JPEG"
    over_png = darkroom(live, "generate", "--from", f"{originals[0]}.json", "--overwrite", cwd=tmp_path)
    assert _paths(over_png) == originals
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in originals + copies + [jpeg]] + [f"{p.name}.json" for p in originals + copies + [jpeg]])


def test_json_prints_one_document_and_nothing_else(live, tmp_path: Path) -> None:
    done = darkroom(live, "generate", PROMPT, "-m", "gpt-image-tiny", "--size", "64x64", "--seed", "42", "-n", "2",
                    "--json", "--out", "j", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["seed"] == 42 and report["seeds"] == [42, 43] and report["model"] == "gpt-image-tiny"
    assert report["files"] == [f"j/hero-image-for-a-todo-app-42-{i}.png" for i in range(2)]
    assert report["request_id"].startswith("req_") and report["usage"]["total_tokens"] > 0
    assert all((tmp_path / f).is_file() for f in report["files"] + report["sidecars"])
    again = darkroom(live, "generate", "--from", f"{report['sidecars'][1]}", "--json", cwd=tmp_path)
    assert json.loads(again.stdout)["files"] == [f"j/hero-image-for-a-todo-app-42-{i}_2.png" for i in range(2)]


def test_edit_with_a_mask_keeps_the_unmasked_pixels(live, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    source = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(source).save(tmp_path / "photo.png")
    Image.new("RGB", (32, 32), (20, 90, 200)).save(tmp_path / "blue.jpg")  # a colour reference
    alpha = np.full((64, 96), 255, np.uint8)
    alpha[:, :48] = 0  # repaint the left half
    Image.fromarray(np.dstack([np.zeros((64, 96, 3), np.uint8), alpha])).save(tmp_path / "mask.png")
    done = darkroom(live, "edit", "photo.png", "blue.jpg", "--mask", "mask.png", "a sun in the sky",  # interleaved
                    "-m", "gpt-image-tiny", "--size", "96x64", "--seed", "5", "--partials", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [path] = _paths(done)
    assert path.name == "a-sun-in-the-sky-5-0.png" and "partial 1 of 1" in done.stderr
    edited = np.asarray(Image.open(tmp_path / path).convert("RGB"))
    assert edited.shape == (64, 96, 3)
    assert np.array_equal(edited[:, 48:], source[:, 48:]) and not np.array_equal(edited[:, :48], source[:, :48])
    sidecar = json.loads((tmp_path / f"{path}.json").read_text())
    assert sidecar["endpoint"] == "edits"
    assert sidecar["images"] == [str(tmp_path / "photo.png"), str(tmp_path / "blue.jpg")]
    assert sidecar["mask"] == str(tmp_path / "mask.png")


def test_vary_saves_variations_of_the_size_asked(live, tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    done = darkroom(live, "vary", "a.png", "-n", "2", "--size", "256x256", "--seed", "9", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in _paths(done)] == ["a-variation-9-0.png", "a-variation-9-1.png"]
    for path in _paths(done):
        with Image.open(tmp_path / path) as image:
            assert (image.format, image.size) == ("PNG", (256, 256))
    again = darkroom(live, "generate", "--from", "a-variation-9-1.png.json", cwd=tmp_path)  # any sidecar
    assert again.returncode == 0, again.stderr
    assert [p.name for p in _paths(again)] == ["a-variation-9-0_2.png", "a-variation-9-1_2.png"]
    assert (tmp_path / "a-variation-9-0_2.png").read_bytes() == (tmp_path / "a-variation-9-0.png").read_bytes()


def test_a_model_whose_server_says_it_streams_is_streamed(live, tmp_path: Path) -> None:
    # "house-style" is no OpenAI name: the client asks GET /v1/models/house-style, whose capabilities say
    # it streams, and streams it without --stream; --no-stream still wins.
    done = darkroom(live, "generate", "a lighthouse", "-m", "house-style", "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [path] = _paths(done)
    assert "partial 1 of 2" in done.stderr
    assert json.loads((tmp_path / f"{path}.json").read_text())["request"]["stream"] is True
    plain = darkroom(live, "generate", "a lighthouse", "-m", "house-style", "--no-stream", cwd=tmp_path)
    assert plain.returncode == 0 and "partial" not in plain.stderr, plain.stderr
