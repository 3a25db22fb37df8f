"""The options of a `[[models]]` entry with `engine = "upstream"`, checked at start.

    base_url = "https://api.openai.com/v1"   # OpenAI, any OpenAI-compatible host, another Darkroom
    api_key_env = "OPENAI_API_KEY"           # the upstream key is read from this variable at start
    upstream_model = "gpt-image-1"           # the name sent upstream (default: the served name)
    kind = "openai"                          # or "azure"

Azure OpenAI (`kind = "azure"`) has two URL shapes, chosen by `api_version`:
    deployment path   api_version set: {base_url}/openai/deployments/{deployment}/images/...?api-version=..
                      (base_url is the resource endpoint; no `model` is sent; deployment: upstream_model)
    v1 path           no api_version: {base_url}/images/... with base_url ".../openai/v1"; `model` is sent
It authenticates with `api-key: <api_key_env>`, or with an Entra ID bearer token (`azure_ad_token_env`).

Keys never sit in the config file: only the names of the variables that hold them. An extra header
that carries credentials (`authorization`, `api-key`) is refused for the same reason.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...config import ConfigError
from ...protocol.images import EXTENSIONS

Extension = Literal["steps", "guidance_scale", "negative_prompt", "scheduler"]
assert set(Extension.__args__) == set(EXTENSIONS)  # type: ignore[attr-defined]
_CREDENTIAL_HEADERS = {"authorization", "api-key", "proxy-authorization"}


class UpstreamOptions(BaseModel):
    """The engine options of a `[[models]]` entry with `engine = "upstream"`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    kind: Literal["openai", "azure"] = "openai"
    api_key_env: str | None = None  # None: no key is sent (an open upstream, such as a local Darkroom)
    azure_ad_token_env: str | None = None  # azure: an Entra ID bearer token instead of an api-key
    upstream_model: str | None = None
    api_version: str | None = None  # azure: the deployment path with this api-version
    deployment: str | None = None  # azure deployment path: the deployment (default: upstream_model)
    timeout_seconds: float = Field(default=300.0, gt=0)  # the longest wait for the upstream's next bytes
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Retries of what is safe to repeat: a connection that never opened, a 429 or 503 (answered before
    # any work); with `safe_to_repeat`, also timeouts, 5xx and dropped connections.
    max_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)  # doubled after each retry
    max_retry_after_seconds: float = Field(default=20.0, ge=0)  # a longer Retry-After is not waited for
    max_concurrency: int = Field(default=16, ge=1)  # upstream calls in flight; more wait (up to max_queue)
    headers: dict[str, str] = Field(default_factory=dict)  # extra headers sent upstream
    safe_to_repeat: bool = False  # the upstream bills nothing twice: timeouts and 5xx may be retried
    pass_urls: bool = False  # url responses keep the upstream's links instead of Darkroom's own
    moderation: bool = False  # also run Darkroom's local moderation (the upstream moderates its own)
    extensions: list[Extension] = Field(default_factory=list)  # Darkroom extensions the upstream takes
    schedulers: list[str] = Field(default_factory=list)  # with the `scheduler` extension: its names
    partial_images: bool = True  # the upstream streams partial images

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in _CREDENTIAL_HEADERS:
                raise ValueError(f"'{name}' carries a credential: put the key in an environment variable "
                                 "and name it in api_key_env")
        return value

    @model_validator(mode="after")
    def _azure_only(self) -> "UpstreamOptions":
        if self.kind != "azure":
            for name in ("azure_ad_token_env", "api_version", "deployment"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is for kind = \"azure\"")
        elif self.api_key_env is None and self.azure_ad_token_env is None:
            raise ValueError("Azure needs api_key_env (an api-key) or azure_ad_token_env (an Entra ID token)")
        elif self.deployment is not None and self.api_version is None:
            raise ValueError("deployment is for Azure's deployment path, which needs api_version")
        return self


class Credentials:
    """The upstream's credential, read from the environment at start. Its repr never shows it."""

    def __init__(self, header: str, value: str) -> None:
        self.header = header
        self._value = value

    def headers(self) -> dict[str, str]:
        return {self.header: self._value} if self._value else {}

    def redact(self, text: str) -> str:
        """`text` with the credential (and its first 12 characters) hidden: an upstream's error message is
        passed on to clients, and some echo the key they refused."""
        secret = self._value.removeprefix("Bearer ")
        for piece in (secret, secret[:12]) if len(secret) >= 12 else (secret,) if secret else ():
            text = text.replace(piece, "***")
        return text

    def __repr__(self) -> str:
        return f"Credentials({self.header}: ***)"


def check_options(model: str, options: dict[str, Any]) -> UpstreamOptions:
    try:
        return UpstreamOptions(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"Invalid setting 'models.{model}{'.' + where if where else ''}': {err['msg']}") from None


def read_credentials(model: str, opts: UpstreamOptions) -> Credentials:
    """The header that authenticates to the upstream, from the variable the options name."""
    if opts.azure_ad_token_env is not None:
        return Credentials("authorization", "Bearer " + _variable(model, "azure_ad_token_env", opts.azure_ad_token_env))
    if opts.api_key_env is None:
        return Credentials("authorization", "")
    key = _variable(model, "api_key_env", opts.api_key_env)
    return Credentials("api-key", key) if opts.kind == "azure" else Credentials("authorization", "Bearer " + key)


def _variable(model: str, setting: str, name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"Invalid setting 'models.{model}.{setting}': the environment variable {name} is not set")
    return value
