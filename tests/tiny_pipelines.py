"""Tiny random-weight diffusers pipelines, built offline, for tests and benchmarks of the diffusers engine.

They are real pipelines in diffusers' own folder layout (model_index.json, one folder per component,
safetensors weights, locally written tokenizers), so `AutoPipelineForText2Image.from_pretrained(folder,
local_files_only=True)` loads them like any downloaded model, but they are a few MB and generate a
256x256 image in 2 steps in about a tenth of a second on a CPU. Their images are noise-like (random
weights) yet deterministic: the same seed gives the same pixels.

    build_tiny_sd(folder)     SD 1.x layout: UNet2DConditionModel, AutoencoderKL (VAE scale factor 8,
                              4 latent channels), CLIPTextModel + CLIP BPE tokenizer, EulerDiscreteScheduler;
                              no safety checker; native size 256x256 (unet sample_size 32)
    build_tiny_flux(folder)   Flux layout: CLIP + T5 text encoders and tokenizers, FluxTransformer2DModel,
                              AutoencoderKL (scale factor 8, 4 latent channels where real Flux has 16),
                              FlowMatchEulerDiscreteScheduler; no guidance embedding (schnell-like)
    break_pipeline(folder)    corrupts a saved pipeline in place (truncates the denoiser's weights file),
                              for "broken model folder" tests

Each builder seeds torch before creating weights, saves with `save_pretrained(folder,
safe_serialization=True)` and returns the folder as a Path. torch, diffusers and transformers are
imported inside the builders only, so importing this module stays cheap. The hub is never reached:
HF_HUB_OFFLINE is set (unless already set) when this module is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

# Words that become single BPE tokens in the CLIP vocabulary (anything else is spelled out byte by byte).
CLIP_WORDS = ("a", "an", "the", "of", "and", "in", "on", "with", "photo", "painting", "cat", "dog", "red",
              "blue", "green", "tree", "house", "lighthouse", "sunset", "mountain", "sea", "city", "night")
# Pieces of the tiny T5 (Unigram) vocabulary besides the special tokens and the single characters.
T5_WORDS = ("a", "an", "the", "of", "and", "in", "on", "with", "photo", "cat", "dog", "red", "blue", "house")


# ---------------------------------------------------------------------------------------------
# Tokenizers


def _byte_alphabet() -> list[str]:
    """The 256 printable characters that byte-level BPE (GPT-2, CLIP) uses for the 256 byte values."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars: dict[int, int] = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


def write_clip_tokenizer_files(folder: str | Path, words: tuple[str, ...] = CLIP_WORDS) -> Path:
    """Write a small, valid CLIP BPE tokenizer (vocab.json + merges.txt) into `folder`.

    Vocabulary: the 256 byte characters, the same with the end-of-word mark `</w>`, the merged
    prefixes of `words` (each word ends up one token), then <|startoftext|> and <|endoftext|> last,
    as in the real CLIP vocabulary.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab[char + suffix] = len(vocab)
    merges: list[str] = []
    for word in words:
        parts = [*word[:-1], word[-1] + "</w>"]
        while len(parts) > 1:
            pair = f"{parts[0]} {parts[1]}"
            if pair not in merges:
                merges.append(pair)
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    return folder


def make_clip_tokenizer(model_max_length: int = 77):
    """A CLIPTokenizer over the tiny local vocabulary (about 570 tokens)."""
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory(prefix="tiny-clip-tok-") as tmp:
        write_clip_tokenizer_files(tmp)
        return CLIPTokenizer.from_pretrained(tmp, model_max_length=model_max_length, local_files_only=True)


def make_t5_tokenizer(model_max_length: int = 512):
    """A T5Tokenizer (Unigram, tokenizers-backed in transformers 5) over a tiny in-memory vocabulary."""
    from transformers import T5Tokenizer

    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for char in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-":
        pieces += [(char, -4.0), ("\u2581" + char, -4.5)]
    pieces += [("\u2581" + word, -1.0) for word in T5_WORDS]
    pieces = list(dict.fromkeys(pieces))
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=model_max_length)


def _clip_text_config(tokenizer, **overrides):
    from transformers import CLIPTextConfig

    settings = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, max_position_embeddings=tokenizer.model_max_length,
                    projection_dim=32, bos_token_id=tokenizer.bos_token_id,
                    eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    settings.update(overrides)
    return CLIPTextConfig(**settings)


def _tiny_vae(**overrides):
    """A 4-level AutoencoderKL (VAE scale factor 8) with very few channels: cheap to decode at 256x256."""
    from diffusers import AutoencoderKL

    settings = dict(sample_size=256, in_channels=3, out_channels=3, block_out_channels=(8, 8, 16, 16),
                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                    layers_per_block=1, latent_channels=4, norm_num_groups=4)
    settings.update(overrides)
    return AutoencoderKL(**settings)


# ---------------------------------------------------------------------------------------------
# Builders


def build_tiny_sd(folder: str | Path) -> Path:
    """Build, save and return a tiny SD 1.x-style text-to-image pipeline (native size 256x256)."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    folder = Path(folder)
    torch.manual_seed(0)
    tokenizer = make_clip_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = _tiny_vae()
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_flux(folder: str | Path) -> Path:
    """Build, save and return a tiny Flux-style text-to-image pipeline (sizes: multiples of 16)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    folder = Path(folder)
    torch.manual_seed(0)
    tokenizer = make_clip_tokenizer()
    tokenizer_2 = make_t5_tokenizer()
    text_encoder = CLIPTextModel(_clip_text_config(tokenizer))
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=32, d_kv=8, d_ff=64,
                                             num_layers=2, num_heads=4, pad_token_id=0, eos_token_id=1,
                                             decoder_start_token_id=0))
    # Flux packs 2x2 latent patches: 4 latent channels -> transformer in_channels 16.
    vae = _tiny_vae(use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609, scaling_factor=1.5035)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                        tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                        transformer=transformer)
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def break_pipeline(folder: str | Path) -> Path:
    """Corrupt a saved pipeline in place, as an interrupted download or copy would: the denoiser's
    safetensors file (unet/ or transformer/) is cut to half its length. Everything else (model_index.json,
    configs, tokenizers, the other weights) stays intact, so the folder still looks like a pipeline and
    fails only when its weights are read. Returns the path of the damaged file."""
    folder = Path(folder)
    for component in ("unet", "transformer"):
        weights = sorted((folder / component).glob("*.safetensors"))
        if weights:
            target = weights[0]
            size = target.stat().st_size
            with target.open("r+b") as handle:
                handle.truncate(size // 2)
            return target
    raise FileNotFoundError(f"{folder} has no unet/ or transformer/ safetensors file to break")


def folder_bytes(folder: str | Path) -> int:
    """Total size of the files under `folder`."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
