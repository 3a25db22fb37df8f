"""`darkroom pull HUB_ID [--revision REV] [--dir DIR] [--no-check]`: a diffusers pipeline from the hub into
the data directory, checked, with the lines that serve it.

    1. Ask the hub for the repo at the revision (its commit and file list). A missing repo, a private or
       gated one without a token that may read it, a missing revision or an unreachable hub is one line
       on stderr and exit 1 (`hub.describe`).
    2. Fetch model_index.json and choose the files the pipeline needs (`pipeline_files`): model_index.json
       and, in each component folder it names, the configs, tokenizer files and one set of weights:
       safetensors where the folder has them (else .bin), without variants (`.fp16.` ...), which the engine
       does not load. Files at the repo's root (README, single-file checkpoints, sample images) and other
       formats (Flax, ONNX, ...) are left out; stderr says how much that saved.
    3. Download those files at that commit with huggingface_hub's `snapshot_download` (its progress bars on
       stderr) into `<data_dir>/models/ORG/NAME`, or `--dir`. Files already there from that commit are not
       fetched again, so a second pull asks the hub one question and downloads nothing.
    4. Load the folder as `darkroom serve` would (`DiffusersEngine.load`: local files only), on the CPU in
       bfloat16 (half the memory of float32), without generating: a download that does not load fails the
       command (exit 1). `--no-check` skips this for models too big for this machine's memory.
    5. Print on stdout the `[[models]]` lines and the `darkroom serve --model FOLDER` command that serve it,
       the same entry `--model FOLDER` builds (`model_flags.model_entry`).

huggingface_hub (with the diffusers extra) reads HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE itself.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .hub import HUB_ID  # re and json only: importing hub.py does not import huggingface_hub

if TYPE_CHECKING:
    from .config import Settings
    from .engines.diffusers.facts import PipelineFacts

# The CLI imports this module for its parser alone (even for commands that read no settings): what the
# command uses, settings included, is imported when it runs.
T = TypeVar("T")
_FORMATS = ("safetensors", "bin")  # weights the engine loads, in order of preference
_WEIGHT = re.compile(r"^(?P<stem>.+?)(?:\.(?P<variant>[A-Za-z0-9_]+(?:-\d{5}-of-\d{5})?))?"
                     r"\.(?P<ext>safetensors|bin|ckpt|pt|pth|msgpack|h5|onnx|onnx_data|pb|gguf|ot|tflite)$")
_INDEX = re.compile(r"^(?P<stem>.+?)\.(?P<ext>safetensors|bin)\.index(?:\.(?P<variant>[A-Za-z0-9_]+))?\.json$")


class PullFailed(Exception):
    """The pull cannot go on; the message is one line."""


def add_pull_command(commands: Any) -> None:
    """Register `darkroom pull` on the CLI's subcommands."""
    pull = commands.add_parser(
        "pull", help="download a diffusers model from the hub and print how to serve it",
        description="Download a diffusers pipeline from the Hugging Face Hub (HF_ENDPOINT; HF_TOKEN for private and "
                    "gated repos) into <data_dir>/models/ORG/NAME, only the files the pipeline needs, check that it "
                    "loads (CPU, no generation), and print the [[models]] lines and the `darkroom serve --model` "
                    "command that serve it.")
    pull.add_argument("hub_id", metavar="HUB_ID", type=_hub_id, help="the repo, ORG/NAME")
    pull.add_argument("--revision", metavar="REV", help="a branch, tag or commit (default: the repo's main branch)")
    pull.add_argument("--dir", metavar="DIR", help="download into DIR instead of <data_dir>/models/ORG/NAME (the "
                                                   "model is then named after DIR's last part)")
    pull.add_argument("--no-check", action="store_true",
                      help="do not load the model to check it (the check holds the whole model in memory, in "
                           "bfloat16 on the CPU: about 2 bytes per parameter)")
    pull.add_argument("--config", metavar="FILE", help="TOML settings file: its data_dir is used (DARKROOM_CONFIG)")
    pull.set_defaults(func=run_pull)


def run_pull(settings: Settings, args: argparse.Namespace) -> int:
    from .hub import HubError
    from .model_flags import toml_entry

    try:
        folder, entry = pull(args.hub_id, destination(settings, args.hub_id, args.dir), revision=args.revision,
                             check=not args.no_check)
    except (HubError, PullFailed) as exc:
        print(f"darkroom: {exc}", file=sys.stderr)
        return 1
    print(toml_entry(entry))
    print(f"darkroom serve --model {shlex.quote(str(folder))}")
    return 0


def destination(settings: Settings, repo_id: str, folder: str | None) -> Path:
    if folder:
        return Path(folder).expanduser().resolve()
    org, name = repo_id.split("/")
    return settings.data_dir / "models" / org / name


def pull(repo_id: str, folder: Path, *, revision: str | None = None, check: bool = True) -> tuple[Path, dict]:
    """Download `repo_id` into `folder`, check it, and return (folder, its [[models]] entry)."""
    from .config import ConfigError
    from .engines.diffusers.facts import read_facts
    from .hub import endpoint, hub
    from .model_flags import folder_reader, model_entry

    hf = hub()
    # 1. The repo at the revision: its commit and its files with their sizes.
    info = _ask(lambda: hf.HfApi().model_info(repo_id, revision=revision, files_metadata=True), repo_id, revision)
    sizes = {sibling.rfilename: sibling.size or 0 for sibling in info.siblings or ()}
    if "model_index.json" not in sizes:
        raise PullFailed(f"{repo_id} has no model_index.json, so it is not a diffusers pipeline (single-file "
                         "checkpoints are not served)")
    # 2. The files the pipeline needs.
    index_file = _ask(lambda: hf.hf_hub_download(repo_id, "model_index.json", revision=info.sha, local_dir=folder),
                      repo_id, revision)
    try:
        index = json.loads(Path(index_file).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise PullFailed(f"{repo_id}'s model_index.json is not valid JSON: {exc}") from None
    files, notes = pipeline_files(sizes, index)
    _say(f"{repo_id} at {info.sha} ({revision or 'main'}) from {endpoint()}: {len(files)} of {len(sizes)} files, "
         f"{_size(sum(sizes[f] for f in files))}, into {folder}")
    for note in notes:
        _say(note)
    # 3. Download (huggingface_hub's progress bars on stderr).
    _ask(lambda: hf.snapshot_download(repo_id, revision=info.sha, local_dir=folder,
                                      allow_patterns=[glob.escape(f) for f in files]), repo_id, revision)
    # 4. Check that it loads as the server will load it.
    try:
        facts = read_facts(folder.name, folder_reader(folder))
    except ConfigError as exc:
        raise PullFailed(f"{folder}: {exc}") from None
    if check:
        _say(check_loads(folder, facts))
    else:
        _say("not checked (--no-check): `darkroom serve` will say whether it loads")
    # 5. The entry that serves it.
    return folder, model_entry(folder.name, str(folder), facts)


def pipeline_files(sizes: dict[str, int], index: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The repo files a diffusers pipeline needs, and notes on what was left out (see the module docstring)."""
    from .engines.diffusers.facts import components_of

    chosen, notes = ["model_index.json"], []
    for component in sorted(components_of(index)):
        names = sorted(name for name in sizes if name.startswith(component + "/"))
        weights = [name for name in names if _weight(name)]
        chosen += [name for name in names if not _weight(name)]
        picked = _one_set_of_weights(weights)
        if weights and not picked:
            notes.append(f"{component}/ has no safetensors or .bin weights without a variant: fetching all of its "
                         f"{len(weights)} weight files (the load check says whether they serve)")
            picked = weights
        chosen += picked
    taken = set(chosen)
    left = [name for name in sizes if name not in taken]
    if left:
        shown = ", ".join(sorted(left, key=lambda name: -sizes[name])[:4]) + (", ..." if len(left) > 4 else "")
        notes.append(f"left out {len(left)} files the pipeline does not load ({_size(sum(sizes[n] for n in left))}): "
                     f"{shown}")
    return chosen, notes


def check_loads(folder: Path, facts: PipelineFacts) -> str:
    """Load `folder` with the diffusers engine (CPU, bfloat16, local files only, no warm-up); a line saying
    what loaded, or PullFailed."""
    from .config import ConfigError
    from .engines import create_engine
    from .hub import first_line

    options = {"path": str(folder), "local_files_only": True, "device": "cpu", "dtype": "bfloat16",
               "warmup": False, "turbo": facts.turbo}
    _say(f"checking that {folder.name} loads ({facts.class_name}, CPU, bfloat16, no generation)...")
    try:
        engine = create_engine("diffusers", options, model=folder.name)
        engine.load()
    except ConfigError as exc:  # the diffusers extra is missing
        raise PullFailed(str(exc)) from None
    except Exception as exc:
        raise PullFailed(f"{folder} was downloaded but does not load as a text-to-image pipeline: "
                         f"{first_line(str(exc))}") from None
    caps = engine.capabilities
    engine.close()
    edits = "edits and variations" if "edit" in caps.operations else "no edits (no image-to-image pipeline)"
    return (f"it loads: {facts.class_name}, native size {caps.native_size[0]}x{caps.native_size[1]}, sizes in "
            f"multiples of {caps.size_multiple}, {edits}; {facts.presets_text()}")


def _ask(call: Callable[[], T], repo_id: str, revision: str | None) -> T:
    """Run a hub call, translating its failure into one line."""
    from .hub import HubError, describe

    try:
        return call()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # huggingface_hub's, httpx2's and the disk's errors alike
        raise HubError(describe(exc, repo_id, revision)) from exc


def _weight(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return bool(_WEIGHT.match(base) or _INDEX.match(base))


def _one_set_of_weights(weights: Iterable[str]) -> list[str]:
    """The weights (and shard index) without a variant, in the first format of _FORMATS the folder has."""
    plain: dict[str, list[str]] = {}
    for name in weights:
        match = _WEIGHT.match(name.rsplit("/", 1)[-1]) or _INDEX.match(name.rsplit("/", 1)[-1])
        if match and not match["variant"]:
            plain.setdefault(match["ext"], []).append(name)
    for ext in _FORMATS:
        if ext in plain:
            return plain[ext]
    return []


def _hub_id(text: str) -> str:
    if not HUB_ID.match(text):
        raise argparse.ArgumentTypeError(f"expected ORG/NAME (a repo on the hub), got {text!r}")
    return text


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _size(n: float) -> str:
    """Bytes in decimal units, as the hub shows them: 4.3 MB."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB"):
        n /= 1000
        if n < 1000 or unit == "GB":
            break
    return f"{n:.1f} {unit}"
