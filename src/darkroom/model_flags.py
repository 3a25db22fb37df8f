"""`--model PATH_OR_HUB_ID` (`darkroom serve`, `darkroom models`): diffusers models served with no config file.

Each flag becomes one `[[models]]` entry, the very one a config file would hold (`model_entry`; `darkroom pull`
prints it as TOML), added to the settings' models: it is then checked, loaded and served by the same code as
every configured model. Flags add to a `--config` file's models; the default catalog (the OpenAI names, drawn
by the sketch engine) keeps serving beside them.

    --model /srv/models/sd-turbo         a pipeline folder (save_pretrained layout: model_index.json, ...)
    --model stabilityai/sd-turbo         a hub id, read through HF_ENDPOINT (HF_TOKEN for private repos)
    --model hero=/srv/models/sd-turbo    either, under a name of your choosing

Name: the folder's name, or the repo's (the part after the `/`); `NAME=` sets it. Two flags that would give
one name, or a flag whose name the config file already serves, stop the start (exit 2) with a message that
says how to name it. A name that is one of OpenAI's model names (`gpt-image-1`, `dall-e-3`, ...) replaces
the built-in sketch model of that name, as a config entry does, and a warning says so.

Rules: the entry's `family` (which OpenAI request rules apply) is `gpt-image`: the family whose every
parameter the diffusers engine honours (quality low/medium/high as step presets, output_format and
compression, transparent backgrounds as cut-outs, moderation, streaming with partial images, edits), and with
diffusers' any-size rule its sizes are what the pipeline can make. A flag that takes an OpenAI model's name
takes that model's family instead, so that clients written for it get its rules. The pipeline's own files
decide the rest (`engines/diffusers/facts.py`): the quality presets from model_index.json's class and the
few-step (`turbo`) setting from its folder's or repo's name (not NAME=), the scheduler and the transformer; the engine reads the native
size and size multiple from the loaded pipeline. The entry's description says what was derived and why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .catalog import OPENAI_MODELS
from .config import ConfigError, ModelConfig, Settings
from .engines.diffusers.facts import PipelineFacts, Reader, read_facts
from .hub import HUB_ID, HubError, json_reader

log = logging.getLogger("darkroom.model_flags")


def add_model_flags(settings: Settings, flags: Sequence[str] | None) -> Settings:
    """`settings` with one diffusers `[[models]]` entry per flag. Raises ConfigError (exit 2) on a bad flag."""
    if not flags:
        return settings
    configured = {model.name for model in settings.models}
    added: dict[str, str] = {}  # name -> the flag that gave it
    entries = []
    for flag in flags:
        name, source = split_flag(flag)
        name = name or default_name(source)
        if name in added:
            raise ConfigError(f"--model {added[name]} and --model {flag} would both be served as '{name}'; name "
                              f"one yourself: --model OTHER-NAME={source}")
        if name in configured:
            raise ConfigError(f"--model {flag} would be served as '{name}', a name the config file already serves; "
                              f"name it yourself: --model OTHER-NAME={source}")
        added[name] = flag
        entries.append(_entry(flag, name, source))
    return settings.model_copy(update={"models": [*settings.models, *entries]})


def split_flag(text: str) -> tuple[str | None, str]:
    """(NAME or None, PATH_OR_HUB_ID). A NAME= prefix counts unless the whole text is an existing path."""
    name, sep, source = text.partition("=")
    if not sep or Path(text).expanduser().exists() or "/" in name:
        return None, text
    if not name or not source:
        raise ConfigError(f"--model {text}: expected PATH_OR_HUB_ID or NAME=PATH_OR_HUB_ID")
    return name, source


def default_name(source: str) -> str:
    """The folder's name, or the repo's name (the part after the `/`)."""
    path = Path(source).expanduser()
    if path.exists():
        return path.resolve().name
    return source.rstrip("/").rsplit("/", 1)[-1]


def is_local(source: str) -> bool:
    """A folder that exists wins over a hub id of the same spelling, as in diffusers' from_pretrained."""
    return Path(source).expanduser().exists()


def model_entry(name: str, path: str, facts: PipelineFacts) -> dict[str, Any]:
    """The `[[models]]` fields for a pipeline, in the order `toml_entry` writes them."""
    return {
        "name": name,
        "engine": "diffusers",
        "family": OPENAI_MODELS.get(name, "gpt-image"),
        "path": path,
        "turbo": facts.turbo,
        "description": f"{facts.class_name} from {path} (diffusers): {facts.presets_text()}",
    }


def toml_entry(entry: dict[str, Any]) -> str:
    """`entry` as the TOML lines of one `[[models]]` table."""
    lines = ["[[models]]"]
    for key, value in entry.items():
        text = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def folder_reader(folder: Path) -> Reader:
    """Read a pipeline folder's JSON files; None for one it does not have."""

    def read(path: str) -> dict | None:
        file = folder / path
        if not file.is_file():
            return None
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{file} is not readable JSON: {exc}") from None

    return read


def _entry(flag: str, name: str, source: str) -> ModelConfig:
    if is_local(source):
        folder = Path(source).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(f"--model {flag}: {folder} is a file, not a pipeline folder")
        path, read = str(folder), folder_reader(folder)
    elif HUB_ID.match(source):
        path, read = source, None  # json_reader(source) below: it needs huggingface_hub
    else:
        raise ConfigError(f"--model {flag}: no such folder, and not a hub id (those look like ORG/NAME)")
    try:
        facts = read_facts(default_name(source), read or json_reader(source))  # the pipeline's name, not NAME=
    except HubError as exc:
        raise ConfigError(f"--model {flag} (no such folder here, so a hub id): {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"--model {flag}: {exc}") from None
    entry = model_entry(name, path, facts)
    if name in OPENAI_MODELS:
        log.warning("--model %s replaces the built-in sketch model '%s' (requests follow %s rules)", flag, name,
                    entry["family"])
    log.info("--model %s: serving '%s' with the diffusers engine, %s request rules; %s", flag, name,
             entry["family"], entry["description"])
    return ModelConfig(**entry)
