"""`capabilities` on `GET /v1/models` (darkroom/capabilities.py) against what the server really does.

For one model of each family, engine and kind (sketch for every OpenAI family, a diffusers model, an
upstream model, a route), requests are derived from the advertised capabilities alone: every value
advertised is accepted (a 200; for an upstream nobody answers, the rules let it through to a 502), and
values just outside them (the next size, n + 1, a quality or format of another family, an extension the
engine does not list) are refused with a 400 naming the field. A route advertises what all its targets
take, which its first target may exceed, so for it only the advertised side is checked. So the page built on them cannot offer
what the server refuses, nor hide what it takes.
"""

from __future__ import annotations

import io
import math

import httpx
import pytest
from PIL import Image


ALL_QUALITIES = ("standard", "hd", "low", "medium", "high")
PROMPT = "a lighthouse on a hill"


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (30, 120, 200, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def mask_png(width: int, height: int) -> bytes:
    """Opaque, with a transparent square in the middle (OpenAI's meaning: the area to edit)."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def capabilities_of(http: httpx.Client, model: str) -> dict:
    listed = {entry["id"]: entry for entry in http.get("/v1/models").json()["data"]}
    one = http.get(f"/v1/models/{model}").json()
    assert one["capabilities"] == listed[model]["capabilities"]
    return one["capabilities"]


def _smallest(caps: dict) -> str:
    """The cheapest size to ask for: the smallest preset, or the smallest custom size where there is none."""
    fixed = [size for size in caps["sizes"] if size != "auto"]
    if not fixed:
        return _custom(caps["custom_sizes"])
    return min(fixed, key=lambda size: math.prod(int(v) for v in size.split("x")))


def _custom(rule: dict, below: bool = False) -> str:
    """A square custom size at the rule's lower pixel bound (or just under it); at least 64 pixels a side
    (a tiny diffusers pipeline's own floor is 8, too small for its UNet)."""
    m = rule["multiple"]
    if below:
        side = math.isqrt(rule["min_pixels"] - 1) // m * m
    else:
        side = max(math.ceil(math.sqrt(rule["min_pixels"]) / m) * m, math.ceil(64 / m) * m)
    return f"{side}x{side}"


def advertised(model: str, caps: dict) -> list[dict]:
    """Generation requests that use each advertised value once (cheap: the smallest size, low quality)."""
    cheap = {"quality": "low"} if "low" in caps["qualities"] else {}
    small = _smallest(caps)
    base = {"prompt": PROMPT, "model": model, **({"response_format": "b64_json"} if caps["response_formats"] else {})}
    out = [{**base, **cheap, "size": size} for size in caps["sizes"]]
    out += [{**base, "size": small, "quality": quality} for quality in caps["qualities"]]
    out.append({**base, **cheap, "size": small, "n": caps["n"]["max"]})
    out += [{**base, **cheap, "size": small, "output_format": fmt} for fmt in caps["output_formats"]]
    if caps["output_compression"]:
        out += [{**base, **cheap, "size": small, "output_format": fmt, "output_compression": value}
                for fmt in caps["output_compression"]["formats"]
                for value in (caps["output_compression"]["min"], caps["output_compression"]["max"])]
    for background in caps["backgrounds"]:
        fmt = {"output_format": caps["transparent_formats"][-1]} if background == "transparent" else {}
        out.append({**base, **cheap, "size": small, "background": background, **fmt})
    out += [{**base, **cheap, "size": small, "moderation": level} for level in caps["moderation"]]
    out += [{**base, "size": small, "style": style} for style in caps["styles"]]
    out += [{**base, "size": small, "response_format": fmt} for fmt in caps["response_formats"]]
    if caps["stream"]:
        out.append({**base, **cheap, "size": small, "stream": True, "partial_images": caps["partial_images"]})
    if caps["custom_sizes"]:
        out.append({**base, **cheap, "size": _custom(caps["custom_sizes"])})
    ext = caps["extensions"]
    out.append({**base, **cheap, "size": small, "seed": ext["seed"]["max"]})
    if "steps" in ext:
        out.append({**base, "size": small, "steps": ext["steps"]["min"]})
    if "guidance_scale" in ext:
        out.append({**base, **cheap, "size": small, "guidance_scale": ext["guidance_scale"]["max"]})
    if "negative_prompt" in ext:
        out.append({**base, **cheap, "size": small, "negative_prompt": "x" * ext["negative_prompt"]["max_length"]})
    out += [{**base, **cheap, "size": small, "scheduler": name} for name in ext.get("scheduler", {}).get("values", [])]
    return out


def refused(model: str, caps: dict) -> list[tuple[dict, str]]:
    """(request, the param its 400 must name): each a value just outside what is advertised."""
    base = {"prompt": PROMPT, "model": model}
    small = _smallest(caps)
    out = [({**base, "size": "1000x1001"}, "size"), ({**base, "size": small, "n": caps["n"]["max"] + 1}, "n")]
    if caps["custom_sizes"]:
        out.append(({**base, "size": _custom(caps["custom_sizes"], below=True)}, "size"))
    else:
        out.append(({**base, "size": "1024x640"}, "size"))  # gpt-image-2's smallest custom size
    out += [({**base, "size": small, "quality": q}, "quality") for q in ALL_QUALITIES if q not in caps["qualities"]]
    for name, value, listed in (("output_format", "png", caps["output_formats"]), ("moderation", "low", caps["moderation"]),
                                ("style", "vivid", caps["styles"]), ("response_format", "b64_json", caps["response_formats"])):
        if not listed:
            out.append(({**base, "size": small, name: value}, name))
    if not caps["backgrounds"]:
        out.append(({**base, "size": small, "background": "opaque"}, "background"))
    elif "transparent" not in caps["backgrounds"]:
        out.append(({**base, "size": small, "background": "transparent"}, "background"))
    else:
        out.append(({**base, "size": small, "background": "transparent", "output_format": "jpeg"}, "background"))
    if caps["output_compression"]:
        unlisted = [fmt for fmt in caps["output_formats"] if fmt not in caps["output_compression"]["formats"]]
        out += [({**base, "size": small, "output_format": fmt, "output_compression": 50}, "output_compression")
                for fmt in unlisted]
    if not caps["stream"]:
        out.append(({**base, "size": small, "stream": True}, "stream"))
    elif not caps["partial_images"]:
        out.append(({**base, "size": small, "stream": True, "partial_images": 1}, "partial_images"))
    ext = caps["extensions"]
    for name, value in (("steps", 2), ("guidance_scale", 3.0), ("negative_prompt", "blurry"), ("scheduler", "euler")):
        if name not in ext:
            out.append(({**base, "size": small, name: value}, name))
    if "scheduler" in ext:
        other = "flow_match_euler" if "euler" in ext["scheduler"]["values"] else "euler"
        out.append(({**base, "size": small, "scheduler": other}, "scheduler"))
    return out


def accepted_status(engine: str) -> set[int]:
    return {502} if engine == "upstream" else {200}  # upstream: nobody answers, the rules let it through


def check_generations(http: httpx.Client, model: str, engine: str, refuses: bool = True) -> None:
    caps = capabilities_of(http, model)
    for body in advertised(model, caps):
        answer = http.post("/v1/images/generations", json=body)
        assert answer.status_code in accepted_status(engine), (body, answer.text[:400])
    for body, param in refused(model, caps) if refuses else ():
        answer = http.post("/v1/images/generations", json=body)
        assert answer.status_code == 400, (body, answer.text[:400])
        assert answer.json()["error"]["param"] == param, (body, answer.json())


def check_edits_and_variations(http: httpx.Client, model: str, engine: str) -> None:
    caps = capabilities_of(http, model)
    edits, variations = caps["edits"], caps["variations"]
    image = ("a.png", png(256, 256), "image/png")
    form = {"prompt": PROMPT, "model": model}
    if edits is None:
        answer = http.post("/v1/images/edits", data=form, files={"image": image})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "model", answer.text
    else:
        assert edits["mask"] is True
        cheap = {"quality": "low"} if "low" in caps["qualities"] else {}
        answer = http.post("/v1/images/edits", data={**form, **cheap},
                           files={"image": image, "mask": ("m.png", mask_png(256, 256), "image/png")})
        assert answer.status_code in accepted_status(engine), answer.text[:400]
        for fidelity in edits["input_fidelity"] or ["high"]:
            answer = http.post("/v1/images/edits", data={**form, **cheap, "input_fidelity": fidelity},
                               files={"image": image})
            expected = accepted_status(engine) if edits["input_fidelity"] else {400}
            assert answer.status_code in expected, answer.text[:400]
        too_many = [("image[]", (f"{i}.png", png(16, 16), "image/png")) for i in range(edits["max_images"] + 1)]
        answer = http.post("/v1/images/edits", data=form, files=too_many)
        assert answer.status_code == 400 and answer.json()["error"]["param"] in ("image", "image[]"), answer.text
    if variations is None:
        answer = http.post("/v1/images/variations", data={"model": model}, files={"image": image})
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "model", answer.text
    else:
        for size in variations["sizes"]:
            answer = http.post("/v1/images/variations", data={"model": model, "size": size,
                                                              "response_format": "b64_json"}, files={"image": image})
            assert answer.status_code in accepted_status(engine), answer.text[:400]
            if engine != "upstream":
                [item] = answer.json()["data"]
                got = Image.open(io.BytesIO(__import__("base64").b64decode(item["b64_json"])))
                assert f"{got.width}x{got.height}" == size


# ---- the default catalog (sketch), one model per family --------------------------------------------


SKETCH_MODELS = ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini", "gpt-image-2", "gpt-image-2-alpha")


@pytest.mark.parametrize("model", SKETCH_MODELS)
def test_sketch_models_accept_what_they_advertise_and_refuse_the_rest(http, model):
    check_generations(http, model, "sketch")
    check_edits_and_variations(http, model, "sketch")


def test_the_families_differ_as_openai_documents(http):
    caps = {model: capabilities_of(http, model) for model in SKETCH_MODELS}
    assert caps["dall-e-2"]["sizes"] == ["256x256", "512x512", "1024x1024"]
    assert caps["dall-e-3"]["sizes"] == ["1024x1024", "1792x1024", "1024x1792"] and caps["dall-e-3"]["n"]["max"] == 1
    assert caps["gpt-image-1"]["sizes"] == ["1024x1024", "1536x1024", "1024x1536", "auto"]
    assert caps["gpt-image-1"]["custom_sizes"] is None and caps["gpt-image-2"]["custom_sizes"]["multiple"] == 16
    assert "transparent" in caps["gpt-image-1"]["backgrounds"] and "transparent" not in caps["gpt-image-2"]["backgrounds"]
    assert "transparent" in caps["gpt-image-2-alpha"]["backgrounds"]
    assert caps["gpt-image-1-mini"]["edits"]["input_fidelity"] == [] and caps["dall-e-3"]["edits"] is None
    assert caps["dall-e-2"]["variations"] is not None and caps["gpt-image-1"]["variations"] is None
    assert all(set(c["extensions"]) == {"seed"} for c in caps.values())  # sketch takes only the seed
    assert caps["dall-e-2"]["prompt_max_length"] == 1000 and caps["gpt-image-1"]["prompt_max_length"] == 32000


# ---- a diffusers model, an upstream model and a route -----------------------------------------------


@pytest.fixture(scope="module")
def others(diffusers_server):
    """The session's diffusers server (tests/conftest.py): `tiny-sd-capped` (a 262,144-pixel cap, presets of
    1, 1 and 2 steps), `remote` (an upstream model whose upstream is down) and the route `either`."""
    with httpx.Client(base_url=diffusers_server.base_url, timeout=120,
                      headers={"Authorization": f"Bearer {diffusers_server.api_key}"}) as client:
        yield client


def test_a_diffusers_model_advertises_its_engine(others):
    caps = capabilities_of(others, "tiny-sd-capped")
    assert caps["custom_sizes"]["multiple"] == 8 and caps["custom_sizes"]["max_pixels"] == 262144
    assert caps["sizes"] == ["auto"]  # no preset fits its 262,144-pixel cap
    assert {"steps", "guidance_scale", "negative_prompt", "scheduler"} <= set(caps["extensions"])
    assert "euler" in caps["extensions"]["scheduler"]["values"]
    check_generations(others, "tiny-sd-capped", "diffusers")
    small = {"prompt": PROMPT, "model": "tiny-sd-capped", "quality": "low"}
    assert others.post("/v1/images/generations", json={**small, "size": "64x72"}).status_code == 200
    refused_size = others.post("/v1/images/generations", json={**small, "size": "64x70"})
    assert refused_size.status_code == 400 and refused_size.json()["error"]["param"] == "size"


def test_an_upstream_model_advertises_its_options(others):
    caps = capabilities_of(others, "remote")
    assert set(caps["extensions"]) == {"seed", "steps", "negative_prompt"} and caps["partial_images"] == 0
    check_generations(others, "remote", "upstream")


def test_a_route_advertises_what_every_target_takes(others):
    caps = capabilities_of(others, "either")
    one, two = capabilities_of(others, "gpt-image-1"), capabilities_of(others, "gpt-image-2")
    assert caps["custom_sizes"] is None and two["custom_sizes"] is not None  # gpt-image-1 has none
    assert "transparent" not in caps["backgrounds"] and "transparent" in one["backgrounds"]
    assert caps["sizes"] == one["sizes"] and caps["edits"]["input_fidelity"] == ["low", "high"]
    # What every target takes, the route takes; it may take more (its first target's extras), so only
    # the advertised side is checked.
    check_generations(others, "either", "route", refuses=False)
