"""The Hugging Face Hub, for `darkroom pull` and `darkroom serve --model ORG/NAME`.

huggingface_hub comes with the diffusers extra and is imported only here, when a command needs it. It
reads its own settings from the environment: `HF_ENDPOINT` (the hub or a mirror), `HF_TOKEN` (private
and gated repos), `HF_HOME` / `HF_HUB_CACHE` (its cache), `HF_HUB_OFFLINE` (no network at all).

Its exceptions are translated here into `HubError`, one line a person can act on (which repository,
which endpoint, what to set), never a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engines.diffusers.facts import Reader

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")  # a repo on the hub: ORG/NAME


class HubError(Exception):
    """A hub request failed; the message is one line naming the repository and what to do."""


def hub() -> Any:
    """The huggingface_hub module, or HubError naming the extra that brings it."""
    try:
        import huggingface_hub
    except ImportError:
        from .engines.diffusers.options import EXTRA_HINT

        raise HubError(f"this needs huggingface_hub, which comes with the diffusers extra: {EXTRA_HINT}") from None
    return huggingface_hub


def endpoint() -> str:
    hub()
    from huggingface_hub import constants

    return constants.ENDPOINT


def json_reader(repo_id: str, revision: str | None = None) -> "Reader":
    """Read a repo's JSON files (through the hub's cache): None for a file the repo does not have."""
    hf = hub()
    from huggingface_hub import errors

    # A file the repo does not have (huggingface_hub 1.x+; before, EntryNotFoundError also meant "not cached").
    missing = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)

    def read(path: str) -> dict | None:
        try:
            local = hf.hf_hub_download(repo_id, path, revision=revision)
        except missing:
            return None
        except Exception as exc:  # translated at the boundary
            raise HubError(describe(exc, repo_id, revision)) from exc
        return json.loads(Path(local).read_text(encoding="utf-8"))

    return read


def describe(exc: BaseException, repo_id: str, revision: str | None = None) -> str:
    """One line for a failed hub request about `repo_id`."""
    hf = hub()
    from huggingface_hub import constants, errors

    where, has_token = constants.ENDPOINT, hf.get_token() is not None
    if isinstance(exc, errors.GatedRepoError):
        return (f"{repo_id} is gated on {where}: ask for access on its page ({where}/{repo_id}) and set HF_TOKEN to "
                "a token of an account that has it")
    if isinstance(exc, errors.RepositoryNotFoundError):
        if has_token:
            return f"{repo_id}: no such repository on {where}, or the token (HF_TOKEN) may not read it"
        return f"{repo_id}: no such repository on {where} (if it is private or gated, set HF_TOKEN)"
    if isinstance(exc, errors.RevisionNotFoundError):
        return f"{repo_id} has no revision '{revision}' on {where}"
    offline = _cause(exc, errors.OfflineModeIsEnabled)
    if offline is not None or constants.HF_HUB_OFFLINE:
        return (f"HF_HUB_OFFLINE is set, so {where} is not asked, and {repo_id} is not in the local cache; "
                "unset it (or set HF_HUB_OFFLINE=0) to download")
    if isinstance(exc, errors.HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            return f"{where} refused the token (HF_TOKEN): 401 {exc.response.headers.get('X-Error-Message', '')}".rstrip()
        return f"{where} answered {status} for {repo_id}: {first_line(exc.server_message or str(exc))}"
    unreachable = _cause(exc, _transport_errors())
    if unreachable is not None:
        return f"cannot reach the hub at {where} (HF_ENDPOINT): {type(unreachable).__name__}: {first_line(str(unreachable))}"
    return f"{repo_id}: {type(exc).__name__}: {first_line(str(exc))}"


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of the HTTP client huggingface_hub uses (httpx2 in 2.x, httpx in 1.x)."""
    import importlib

    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _cause(exc: BaseException | None, kinds: type[BaseException] | tuple[type[BaseException], ...]) \
        -> BaseException | None:
    """`exc` or the first exception of its cause chain that is one of `kinds`."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kinds):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
