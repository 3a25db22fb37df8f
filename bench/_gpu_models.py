"""Random-weight pipelines shaped like SD 1.5, SDXL and FLUX.1-dev, built offline for `bench gpu`.

The architectures are the published ones (the diffusers / transformers config values of the released
checkpoints, written out as dicts below: nothing is downloaded). Random weights cost exactly the
compute of trained ones. Every model is created directly on the target device in the target dtype
(`torch.device(...)` and the default dtype set while the modules are made), so a 12B-parameter FLUX
transformer never exists as an fp32 copy on the CPU.

Tokenizers are local and tiny (tests/tiny_pipelines.py): the CLIP BPE one (model_max_length 77) and,
for FLUX's T5, a Unigram T5Tokenizer (model_max_length 512, what FluxPipeline pads to). Each text
encoder's `vocab_size` is set to its tokenizer's length: a few hundred embedding rows instead of
49,408 (CLIP) or 32,128 (T5), a lookup, no compute lost.

    make_pipeline("flux", device="cuda", dtype="bfloat16")     the pipeline object
    build("flux", folder, device="cuda", dtype="bfloat16")     the same, saved to `folder` (safetensors)

Parameters (the published counts): SD 1.5 UNet 860M, VAE 84M, CLIP-L text 123M; SDXL UNet 2.57B,
OpenCLIP bigG text 695M; FLUX.1-dev transformer 11.9B, T5 v1.1 XXL encoder 4.76B (4.63B with the tiny
vocab), VAE 84M (16 latent channels). Saved in bf16: SD 1.5 ~2 GB, SDXL ~7 GB, FLUX ~33 GB.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import REPO_ROOT

# ---------------------------------------------------------------------------------------------
# Published architectures

SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=768, attention_head_dim=8,
)
SD15_VAE = dict(
    sample_size=512, in_channels=3, out_channels=3, latent_channels=4, act_fn="silu", layers_per_block=2,
    block_out_channels=(128, 256, 512, 512), norm_num_groups=32,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215,
)
CLIP_VIT_L_TEXT = dict(  # openai/clip-vit-large-patch14, text tower (SD 1.5's encoder, SDXL's and FLUX's first)
    hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(320, 640, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=2048, attention_head_dim=(5, 10, 20),
    transformer_layers_per_block=(1, 2, 10), use_linear_projection=True, addition_embed_type="text_time",
    addition_embed_type_num_heads=64, addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
)
SDXL_VAE = dict(SD15_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
OPENCLIP_BIGG_TEXT = dict(  # laion CLIP-ViT-bigG-14, text tower with projection (SDXL's text_encoder_2)
    hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
    max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=1280,
)
EULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
             timestep_spacing="leading")
FLUX_TRANSFORMER = dict(  # black-forest-labs/FLUX.1-dev, transformer/config.json
    patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
    num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768, guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)
FLUX_VAE = dict(SD15_VAE, sample_size=1024, latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159,
                use_quant_conv=False, use_post_quant_conv=False, force_upcast=True, mid_block_add_attention=True)
T5_V1_1_XXL = dict(  # google/t5-v1_1-xxl (FLUX's text_encoder_2), encoder only
    d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, relative_attention_num_buckets=32,
    relative_attention_max_distance=128, feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
)
FLUX_FLOW_MATCH = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                       max_shift=1.15, base_image_seq_len=256, max_image_seq_len=4096)

MODELS = ("sd15", "sdxl", "flux")
T5_MAX_LENGTH = 512  # FluxPipeline's max_sequence_length default: the T5 encoder always sees 512 tokens


# ---------------------------------------------------------------------------------------------
# Tokenizers and text configs


def _tiny_pipelines():
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import tests.tiny_pipelines as tiny

    return tiny


def clip_tokenizer():
    return _tiny_pipelines().make_clip_tokenizer(model_max_length=77)


def t5_tokenizer():
    return _tiny_pipelines().make_t5_tokenizer(model_max_length=T5_MAX_LENGTH)


def clip_text_config(tokenizer, arch: dict):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**arch, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def t5_config(tokenizer, **overrides):
    from transformers import T5Config

    # The tiny tokenizer's ids: <pad> 0, </s> 1, as in the real T5 vocabulary.
    return T5Config(**{**T5_V1_1_XXL, **overrides}, vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1,
                    decoder_start_token_id=0)


# ---------------------------------------------------------------------------------------------
# Builders


@contextlib.contextmanager
def creating(device: str, dtype: str) -> Iterator[None]:
    """Modules made inside are created on `device` in `dtype` (parameters never exist elsewhere)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, dtype))
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def make_sd15(device: str = "cpu", dtype: str = "float32") -> Any:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    with creating(device, dtype):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(clip_text_config(tokenizer, CLIP_VIT_L_TEXT))
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=EulerDiscreteScheduler(**EULER), safety_checker=None,
                                   feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def make_sdxl(device: str = "cpu", dtype: str = "float32") -> Any:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    with creating(device, dtype):
        unet = UNet2DConditionModel(**SDXL_UNET)
        vae = AutoencoderKL(**SDXL_VAE)
        text_encoder = CLIPTextModel(clip_text_config(tokenizer, CLIP_VIT_L_TEXT))
        text_encoder_2 = CLIPTextModelWithProjection(clip_text_config(tokenizer, OPENCLIP_BIGG_TEXT))
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
                                     scheduler=EulerDiscreteScheduler(**EULER), image_encoder=None,
                                     feature_extractor=None, force_zeros_for_empty_prompt=True)


def make_flux(device: str = "cpu", dtype: str = "float32", *, double_blocks: int = 19, single_blocks: int = 38,
              t5_layers: int = 24) -> Any:
    """FLUX.1-dev's shape; fewer blocks or T5 layers (same widths) only for CPU wiring checks."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, T5EncoderModel

    torch.manual_seed(0)
    tokenizer, tokenizer_2 = clip_tokenizer(), t5_tokenizer()
    with creating(device, dtype):
        transformer = FluxTransformer2DModel(**{**FLUX_TRANSFORMER, "num_layers": double_blocks,
                                                "num_single_layers": single_blocks})
        vae = AutoencoderKL(**FLUX_VAE)
        text_encoder = CLIPTextModel(clip_text_config(tokenizer, CLIP_VIT_L_TEXT))
        text_encoder_2 = T5EncoderModel(t5_config(tokenizer_2, num_layers=t5_layers))
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_FLOW_MATCH), vae=vae,
                        text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
                        tokenizer_2=tokenizer_2, transformer=transformer)


MAKERS = {"sd15": make_sd15, "sdxl": make_sdxl, "flux": make_flux}


def make_pipeline(name: str, *, device: str = "cpu", dtype: str = "float32") -> Any:
    if name not in MAKERS:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(MAKERS)})")
    return MAKERS[name](device=device, dtype=dtype)


def save(pipe: Any, folder: Path) -> Path:
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build(name: str, folder: Path, *, device: str = "cuda", dtype: str = "bfloat16") -> Any:
    """Make `name` on `device` in `dtype`, save it to `folder`, and return the pipeline."""
    pipe = make_pipeline(name, device=device, dtype=dtype)
    save(pipe, folder)
    return pipe


def build_sd15(folder: Path, *, device: str = "cuda", dtype: str = "bfloat16") -> Path:
    """Random-weight SD 1.5 saved to `folder` (bench/batching.py's GPU mode)."""
    save(make_sd15(device=device, dtype=dtype), folder)
    return Path(folder)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
