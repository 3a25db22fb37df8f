"""How a request's prompt appears in the access log: the `log_prompts` setting.

    off      no prompt field at all
    hashed   `prompt_hash`: the first 16 hex digits (64 bits) of HMAC-SHA256(prompt) under a key of this
             server's (the default)
    full     `prompt`: the prompt as sent

The hash is keyed, not a plain sha256: a plain hash of a short prompt ("a cat") is reversed by hashing
a dictionary of likely prompts. The key is derived from the link-signing secret (`url_signing_key`,
or `data_dir/url-signing.key`), so the same prompt has the same hash across restarts and on every
replica sharing that secret (operators can see repeats), yet nobody without the secret can test a
guess. Deriving it (HMAC of a fixed label) keeps the two uses apart: a prompt hash says nothing
about a link's signature.

The prompt is logged nowhere else: the engines, the service and the error paths log request ids,
model names, sizes and error codes, never the prompt.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

Mode = Literal["off", "hashed", "full"]
_LABEL = b"darkroom access-log prompt hash v1"


class PromptLog:
    def __init__(self, mode: Mode, secret: bytes) -> None:
        self.mode = mode
        self._key = hmac.new(secret, _LABEL, hashlib.sha256).digest()

    def fields(self, prompt: str | None) -> dict[str, str]:
        """The access log's prompt field for `prompt` (None: the request had none, or was refused before)."""
        if prompt is None or self.mode == "off":
            return {}
        if self.mode == "full":
            return {"prompt": prompt}
        return {"prompt_hash": self.digest(prompt)}

    def digest(self, prompt: str) -> str:
        return hmac.new(self._key, prompt.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
