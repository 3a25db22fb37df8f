"""Settings: defaults < TOML file (`--config FILE` or DARKROOM_CONFIG) < DARKROOM_* env < CLI flags.

Every setting is listed in the settings table of docs/configuration.md. A bad value fails at start with
`ConfigError` naming the setting (`Invalid setting 'port': ...`), never later.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Family = Literal["dall-e-2", "dall-e-3", "gpt-image", "gpt-image-2"]
EngineName = Literal["sketch", "diffusers", "upstream"]

DEFAULT_PROMPT_LIMITS: dict[str, int] = {
    "dall-e-2": 1000,
    "dall-e-3": 4000,
    "gpt-image": 32000,
    "gpt-image-2": 32000,
}


class ConfigError(Exception):
    """A setting is missing, malformed or out of range. The message names it."""


from .pricing import ModelPrice  # noqa: E402 - pricing raises ConfigError, defined just above


class ModelConfig(BaseModel):
    """One `[[models]]` entry: a served model name, the engine behind it and the family rules it follows.

    Keys not listed here are engine options (`path`, `device`, `base_url`, ...); each engine checks its
    own and refuses the ones it does not know. An entry with `targets` is a route (`routing.py`): it
    names other served models and has no engine of its own.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    engine: EngineName = "sketch"  # a route (an entry with `targets`) has none of its own
    family: Family = "gpt-image"
    description: str = ""
    # None: the family's default (gpt-image yes, gpt-image-2 no). dall-e families never allow it.
    transparent_background: bool | None = None
    # Engines without native alpha (diffusers) make transparent images by drawing the subject on a key
    # colour and cutting it out (postprocess/matting.py): "auto" picks one that the prompt does not name,
    # or "green", "blue", "magenta", "#rrggbb".
    transparent_key: str = "auto"
    # None: the engine's own cap. Lower it to protect a small machine.
    max_pixels: int | None = Field(default=None, gt=0)
    # Accept any WIDTHxHEIGHT the engine can make (and `auto` = its native size) instead of the
    # family's size list. None: yes for diffusers models, no for sketch (which mimics OpenAI exactly).
    any_size: bool | None = None
    # Scheduling (one worker per engine instance): queue bound, batching across requests.
    max_queue: int = Field(default=64, ge=1)  # waiting requests; more get 503 server_overloaded
    max_batch_images: int | None = Field(default=None, ge=1)  # None: min(4, the engine's max batch)
    batch_window_ms: float = Field(default=0.0, ge=0, le=10_000)  # wait this long for more jobs to batch
    # An engine call still running this long after all its requests left (or got their 504) is stuck:
    # /health says degraded and the model answers 503 engine_stuck until it returns (`scheduling/worker.py`).
    stuck_after_seconds: float = Field(default=120.0, gt=0)
    # Costs (`pricing.py`): the name of an entry in the price table, or this model's own prices. None:
    # upstream models are priced as their `upstream_model` in the table; local models cost nothing.
    prices: str | ModelPrice | None = None
    # Routing (`routing.py`): a route stands for these served models, tried by `strategy`.
    targets: list[str] | None = Field(default=None, min_length=1)
    strategy: Literal["fallback", "round-robin", "least-busy"] = "fallback"
    # The circuit breaker of this model as a route's target: after `breaker_failures` failures in a row
    # routes skip it for `breaker_cooldown_seconds`, then let one request through to try it again.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    # With `darkroom serve --ray` (`scaleout/`): this model's Ray Serve deployment. What one replica
    # takes from its node (GPUs, CPUs, custom resources that pin it to the nodes that have them), and
    # how many replicas the autoscaler may run. Ignored by the single process, which has no replicas.
    num_gpus: float = Field(default=0.0, ge=0)
    num_cpus: float = Field(default=1.0, ge=0)
    resources: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    # Megapixel-steps of queued plus running work per replica the autoscaler aims at (`scaleout/
    # autoscaling.py`). 100: about four 1024x1024 images at 25 steps, a few seconds of one GPU.
    target_work_per_replica: float = Field(default=100.0, gt=0)
    # How long the work must call for more (or fewer) replicas before the autoscaler acts: up soon (a
    # burst of 1-120 s jobs is real work), down late (a replica takes seconds to minutes to load).
    scale_up_delay_seconds: float = Field(default=2.0, ge=0)
    scale_down_delay_seconds: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _dalle_is_opaque(self) -> "ModelConfig":
        if self.transparent_background and self.family.startswith("dall-e"):
            raise ValueError(f"transparent_background cannot be enabled for the {self.family} family")
        return self

    @model_validator(mode="after")
    def _route_has_no_engine(self) -> "ModelConfig":
        given_engine = "engine" in self.model_fields_set
        if self.targets is not None and (given_engine or self.model_extra):
            extra = ", ".join(["engine"] * given_engine + sorted(self.model_extra or {}))
            raise ValueError(f"a route (an entry with targets) has no engine of its own, so it takes no {extra}")
        return self

    @model_validator(mode="after")
    def _replica_bounds(self) -> "ModelConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})")
        return self

    @property
    def is_route(self) -> bool:
        return self.targets is not None

    @field_validator("transparent_key")
    @classmethod
    def _known_key(cls, value: str) -> str:
        from .postprocess.keying import choose_key

        choose_key("", value)  # raises ValueError naming the accepted values
        return value

    @property
    def engine_options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ModerationThresholds(BaseModel):
    """For one `moderation` level: the scores at or above which each check blocks (lower blocks more)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    harassment: float = Field(ge=0, le=1)  # alt-profanity-check's probability that a prompt is abusive
    nudity: float = Field(ge=0, le=1)  # nudenet's score for an exposed intimate body part in an image
    # An omni-moderation category score; None: OpenAI's own verdict (its `categories` flags).
    openai: float | None = Field(default=None, ge=0, le=1)


# auto blocks at lower scores than low. Figures behind the numbers: docs/moderation.md.
DEFAULT_MODERATION = {
    "auto": ModerationThresholds(harassment=0.85, nudity=0.6, openai=None),
    "low": ModerationThresholds(harassment=0.97, nudity=0.8, openai=0.8),
}


class Settings(BaseSettings):
    """Darkroom's settings. Field docs double as the settings table in docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="DARKROOM_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    data_dir: Path = Path("./darkroom-data")
    public_base_url: str = ""
    url_ttl_seconds: int = Field(default=3600, gt=0)
    url_signing_key: SecretStr = SecretStr("")
    # How prompts appear in the access log: "off", "hashed" (a keyed hash: api/prompt_log.py) or "full".
    log_prompts: Literal["off", "hashed", "full"] = "hashed"
    # Web origins whose pages may call this server from a browser (CORS), e.g. ["https://app.example"];
    # "*": any page. Empty: none (browsers refuse cross-origin calls).
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, gt=0)  # JSON bodies; uploads have their own caps below
    max_upload_bytes: int = Field(default=67_108_864, gt=0)  # a whole edits/variations body (64 MiB)
    max_upload_file_bytes: int = Field(default=52_428_800, gt=0)  # one uploaded image (OpenAI: 50 MB)
    max_input_pixels: int = Field(default=16_777_216, gt=0)  # one uploaded image, read from its header
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0)  # SSE comment while nothing else is sent
    storage: Literal["local", "s3"] = "local"  # where `url` responses' (and kept) images live
    s3_bucket: str = ""  # required with storage = "s3"
    s3_endpoint_url: str | None = None  # an S3-compatible server (MinIO, R2, moto...); None: AWS
    s3_region: str | None = None  # None: the AWS configuration chain's
    s3_prefix: str = ""  # key prefix, used as given ("images/" for a folder)
    s3_presign: bool = True  # url responses are S3 presigned URLs; false: Darkroom serves them from S3
    database_url: str = ""  # the metadata store; empty: SQLite in data_dir (postgresql+psycopg://... to share)
    store_all: bool = False  # keep every generated image with its request's metadata, for its owner
    store_all_ttl_seconds: int = Field(default=30 * 86_400, gt=0)  # how long kept images live
    max_pixels: int = Field(default=8_294_400, gt=0)  # per image, every model; [[models]] max_pixels lowers it
    request_timeout_seconds: float = Field(default=590.0, gt=0)  # under the SDKs' 600 s: a 504, not a retry
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)  # on SIGTERM, time for work in flight
    # Connections (`connections.py`): slow or idle clients can neither pin the server nor hold memory.
    keep_alive_timeout_seconds: float = Field(default=5.0, gt=0)  # an idle kept-alive connection is closed
    header_timeout_seconds: float = Field(default=10.0, gt=0)  # request line + headers must arrive within it
    body_timeout_seconds: float = Field(default=120.0, gt=0)  # the whole body, from the end of the headers
    max_header_bytes: int = Field(default=65_536, ge=1024)  # request line + headers; more: 431
    max_connections: int = Field(default=1000, ge=1)  # open connections; a request on one more: 503
    # Moderation (moderation/): prompt and image checks on every request. Off only when set false, with
    # a warning at start. The two levels' thresholds are tables of their own ([moderation_auto]).
    moderation_enabled: bool = True
    moderation_auto: ModerationThresholds = DEFAULT_MODERATION["auto"]
    moderation_low: ModerationThresholds = DEFAULT_MODERATION["low"]
    # Also ask OpenAI's moderation endpoint about prompts and images when a key is set.
    moderation_openai_api_key: SecretStr = SecretStr("")
    moderation_openai_base_url: str = "https://api.openai.com/v1"
    moderation_openai_model: str = "omni-moderation-latest"
    moderation_openai_timeout_seconds: float = Field(default=5.0, gt=0)
    # When the endpoint fails or times out: "block" (fail closed: 503, retry later) or "allow" (fail
    # open: the local checks alone decide).
    moderation_openai_on_error: Literal["block", "allow"] = "block"
    prompt_limits: dict[Family, Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_PROMPT_LIMITS)
    )
    models: list[ModelConfig] = Field(default_factory=list)
    # Ray Serve (`darkroom serve --ray`, `scaleout/`). Empty address: start a local Ray instance;
    # `auto`, `ray://host:10001` or `host:6379`: join that cluster.
    ray_address: str = ""
    ray_ingress_replicas: int = Field(default=1, ge=1)  # replicas of the API (the FastAPI app)
    ray_ingress_num_cpus: float = Field(default=1.0, ge=0)  # the CPUs Ray reserves for each; Ray's default is 1
    ray_max_ongoing_requests: int = Field(default=5, ge=1)  # per model replica; Ray's default is 5 too
    # How long a replica being stopped gets to finish its requests; None: request_timeout_seconds + 10.
    ray_graceful_shutdown_seconds: float | None = Field(default=None, gt=0)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):  # DARKROOM_API_KEYS=sk-a,sk-b
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):  # DARKROOM_CORS_ALLOWED_ORIGINS=https://a.example,https://b.example
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        value = [origin.rstrip("/") for origin in value]
        for origin in value:
            if origin != "*" and (not origin.startswith(("http://", "https://")) or origin.count("/") != 2):
                raise ValueError(f"each origin is \"*\" or scheme://host[:port] with no path, but one is {origin!r}")
        return value

    @field_validator("public_base_url", "moderation_openai_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("prompt_limits", mode="after")
    @classmethod
    def _fill_prompt_limits(cls, value: dict[str, int]) -> dict[str, int]:
        return {**DEFAULT_PROMPT_LIMITS, **value}

    @field_validator("models")
    @classmethod
    def _unique_names(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        seen: set[str] = set()
        for model in value:
            if model.name in seen:
                raise ValueError(f"model name '{model.name}' appears twice")
            seen.add(model.name)
        return value

    @model_validator(mode="after")
    def _ray_drain_covers_requests(self) -> "Settings":
        grace = self.ray_graceful_shutdown_seconds
        if grace is not None and grace < self.request_timeout_seconds:
            raise ValueError(f"ray_graceful_shutdown_seconds ({grace:g}) is below request_timeout_seconds "
                             f"({self.request_timeout_seconds:g}): a replica being stopped would be killed under "
                             "requests that are still allowed to run")
        return self

    @property
    def ray_graceful_shutdown(self) -> float:
        """`ray_graceful_shutdown_seconds`, or its default: request_timeout_seconds + 10."""
        return self.ray_graceful_shutdown_seconds or self.request_timeout_seconds + 10

    @model_validator(mode="after")
    def _auto_is_stricter(self) -> "Settings":
        auto, low = self.moderation_auto, self.moderation_low
        for name in ("harassment", "nudity", "openai"):
            a, b = getattr(auto, name), getattr(low, name)
            if a is not None and b is not None and b < a:
                raise ValueError(f"moderation_low.{name} ({b}) is below moderation_auto.{name} ({a}): "
                                 "auto is the stricter level, so its thresholds must not be higher")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        sources = [init_settings, env_settings]
        toml_file = settings_cls.model_config.get("toml_file")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from every source, turning any failure into a ConfigError that names the setting.

    `overrides` are the CLI flags; None values are dropped so that a flag not given does not win.
    """
    config_file = config_file or os.environ.get("DARKROOM_CONFIG") or None
    settings_cls: type[Settings] = Settings
    if config_file:
        path = Path(config_file)
        _check_toml(path)
        settings_cls = type("Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}})
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = settings_cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    return settings.model_copy(update={"data_dir": _absolute_data_dir(settings.data_dir, config_file, overrides)})


def _absolute_data_dir(data_dir: Path, config_file: str | os.PathLike[str] | None, overrides: dict) -> Path:
    """The data directory as an absolute path, so that every command (and any later chdir) uses the same one.

    A relative `data_dir` written in the config file is relative to that file's folder; one from a flag,
    DARKROOM_DATA_DIR or the default is relative to the working directory at the time it is read.
    """
    data_dir = data_dir.expanduser()
    if data_dir.is_absolute():
        return data_dir
    from_file = (config_file and "data_dir" not in overrides and "DARKROOM_DATA_DIR" not in
                 {k.upper() for k in os.environ})
    if from_file:
        with Path(config_file).open("rb") as f:
            from_file = "data_dir" in tomllib.load(f)
    base = Path(config_file).expanduser().resolve().parent if from_file else Path.cwd()
    return Path(os.path.normpath(base / data_dir))


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as f:
            tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"Config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from None


SECRET_SETTINGS = ("api_keys", "url_signing_key", "moderation_openai_api_key")  # never echoed in an error


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(part) for part in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            lines.append(f"Unknown setting '{name}'")
        elif err["loc"] and str(err["loc"][0]) in SECRET_SETTINGS:
            lines.append(f"Invalid setting '{name}': {err['msg']} (value not shown: it is a secret)")
        else:
            lines.append(f"Invalid setting '{name}': {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)
