"""The `darkroom` command.

    darkroom serve [--host HOST] [--port PORT] [--config FILE] [--model PATH_OR_HUB_ID ...]
                                                                   run the server under uvicorn
    darkroom serve --ray [--ray-address ADDR] [--config FILE]      the same app on Ray Serve (scaleout/)
    darkroom models [--config FILE] [--model PATH_OR_HUB_ID ...]   list the served models
    darkroom pull HUB_ID [--revision REV] [--dir DIR] [--no-check] download a diffusers model (pull.py)
    darkroom keys create --name NAME [--rpm N] [--images-per-minute N] [--monthly-images N]
                         [--monthly-budget USD] [--models A,B] [--admin]
    darkroom keys list | darkroom keys revoke NAME                 API keys in the metadata store
    darkroom usage [--since DATE] [--key NAME] [--requests]        the usage ledger, with costs in USD
    darkroom generate | edit | vary | batch                       the client, for any OpenAI-compatible
                                                                   server (`client/`, docs/cli.md)

`--model` (repeatable) serves a diffusers pipeline folder or hub id with no config file, beside the
config file's models and the default catalog; its name, family and presets come from the pipeline
(model_flags.py). `pull` downloads one into the data directory and prints the lines to serve it.

A key may be limited to some models (`--models`: others are a 404 to it) and given a monthly budget in
dollars (`--monthly-budget`: once its requests this month, UTC, cost that much, a 429 insufficient_quota).

Every server subcommand reads the same settings: defaults < --config FILE (or DARKROOM_CONFIG) <
DARKROOM_* environment variables < flags. The client subcommands read none of them: they talk to
`--base-url` / `OPENAI_BASE_URL` with `--api-key` / `OPENAI_API_KEY`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import __version__, logs
from .client import register as register_client
from .pull import add_pull_command

if TYPE_CHECKING:
    from .config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "client", None):  # generate, edit, vary, batch: no server settings
        return args.client(args)
    from .config import ConfigError, load_settings  # imported here: the client commands need neither (0.4 s)

    try:
        settings = load_settings(args.config, **_overrides(args))
        return args.func(settings, args)
    except ConfigError as exc:
        print(f"darkroom: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="darkroom", description="A self-hosted server for OpenAI's Image API.")
    parser.add_argument("--version", action="version", version=f"darkroom {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server", description="Run the Darkroom server.")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1; DARKROOM_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000; 0 picks a free one; DARKROOM_PORT)")
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (DARKROOM_CONFIG)")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"],
                       help="log verbosity (default info; DARKROOM_LOG_LEVEL)")
    serve.add_argument("--ray", action="store_true",
                       help="run as a Ray Serve application (needs darkroom[ray], PostgreSQL and S3; scaleout/)")
    serve.add_argument("--ray-address", metavar="ADDR",
                       help="with --ray: join this Ray cluster (auto, ray://host:10001, host:6379) instead of "
                            "starting a local one (DARKROOM_RAY_ADDRESS)")
    serve.set_defaults(func=_serve)

    models = commands.add_parser("models", help="list the served models", description="List the served models.")
    models.add_argument("--config", metavar="FILE", help="TOML settings file (DARKROOM_CONFIG)")
    models.set_defaults(func=_models)
    for sub in (serve, models):
        sub.add_argument("--model", action="append", metavar="PATH_OR_HUB_ID",
                         help="also serve this diffusers pipeline (a folder or ORG/NAME on the hub; NAME=... to name "
                              "it); repeatable; name, family and presets come from the pipeline (docs/quickstart.md)")
    add_pull_command(commands)  # pull.py

    keys = commands.add_parser("keys", help="issue, list and revoke API keys",
                               description="API keys in the metadata store (keys are stored only as hashes).")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_commands.add_parser("create", help="issue a key (printed once)", description="Issue an API key. "
                                      "It is printed once; only its hash is stored.")
    create.add_argument("--name", required=True, help="a unique name (shown in the ledger, logs and metrics)")
    create.add_argument("--rpm", type=_positive, help="requests per minute (default: no limit)")
    create.add_argument("--images-per-minute", type=_positive, help="images per minute (default: no limit)")
    create.add_argument("--monthly-images", type=_positive, help="images per calendar month, UTC (default: no limit)")
    create.add_argument("--monthly-budget", type=_dollars, metavar="USD",
                        help="what the key's requests may cost per calendar month (UTC), priced from their usage; "
                             "past it: 429 insufficient_quota (default: no budget)")
    create.add_argument("--models", type=_names, metavar="A,B",
                        help="comma-separated models (or routes) the key may use; others answer 404 model_not_found "
                             "and /v1/models lists only these (default: every model)")
    create.add_argument("--admin", action="store_true", help="may read GET /v1/usage/images")
    create.set_defaults(func=_keys_create)
    listing = keys_commands.add_parser("list", help="list the keys (never the keys themselves)")
    listing.set_defaults(func=_keys_list)
    revoke = keys_commands.add_parser("revoke", help="revoke a key (refused within a second everywhere)")
    revoke.add_argument("name", help="the key's name")
    revoke.set_defaults(func=_keys_revoke)

    usage = commands.add_parser("usage", help="print the usage ledger", description="Usage per day, key and model "
                                "from the ledger (successful requests; errors counted apart). Costs are in USD, "
                                "priced from each request's usage: '-' where unknown (a model with no price), "
                                "'+?' after a sum that leaves some out.")
    usage.add_argument("--since", type=_date, help="YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC; default: 30 days ago)")
    usage.add_argument("--key", help="only this key's name")
    usage.add_argument("--requests", action="store_true",
                       help="one line per request instead of totals, with its cost and the model that served it")
    usage.set_defaults(func=_usage)
    for sub in (create, listing, revoke, usage):
        sub.add_argument("--config", metavar="FILE", help="TOML settings file (DARKROOM_CONFIG)")
    register_client(commands)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _dollars(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an amount in dollars, e.g. 50 or 12.5") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive amount in dollars")
    return value


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError("expected one or more model names, comma-separated")
    return names


def _date(text: str) -> float:
    for form in ("%Y-%m-%d", "%Y-%m-%dT%H:%M"):
        try:
            return dt.datetime.strptime(text, form).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError("expected YYYY-MM-DD or YYYY-MM-DDTHH:MM")


def _overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) for name in ("host", "port", "log_level", "ray_address")}


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    if args.ray:
        return _serve_ray(settings, args)
    from .api.app import create_app
    from .shutdown import DrainingServer

    logs.configure(settings.log_level)
    settings = _with_model_flags(settings, args)
    logging.getLogger("darkroom").info("data directory %s; metadata store %s", settings.data_dir,
                                       store_description(settings))
    if settings.port:  # 0: the port is picked at start, and uvicorn's own line says which
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        logging.getLogger("darkroom").info("the API at http://%s:%d/v1, the playground at http://%s:%d/",
                                           host, settings.port, host, settings.port)
    app = create_app(settings)
    server = DrainingServer(app, settings)

    def stop(reason: str) -> None:  # a model failed to load: stop serving, exit non-zero below
        server.should_exit = True

    app.state.on_load_failure = stop
    server.run()
    failure = app.state.service.loader.failure
    if failure:
        print(f"darkroom: {failure}", file=sys.stderr)
        return 1
    return 0


def _serve_ray(settings: Settings, args: argparse.Namespace) -> int:
    """`serve --ray`: the shared state is checked before Ray starts (a ConfigError: exit 2, at once)."""
    from .config import ConfigError
    from .scaleout.requirements import check_shared_state

    check_shared_state(settings)
    if args.model:
        raise ConfigError("--model cannot be used with --ray: the replicas read their models from the config "
                          "file, so put them in [[models]] entries there")
    logs.configure(settings.log_level)
    from .scaleout.runner import serve_ray

    try:
        return serve_ray(settings, args.config)
    except ImportError as exc:
        print(f"darkroom: {exc}", file=sys.stderr)
        return 2


def store_description(settings: Settings) -> str:
    """Where the metadata store (keys, ledger) is, for the CLI's messages and the server's start-up log.

    Named before the store is opened, so that a store the command is about to create is called new: a
    command run with another data directory than the server's then says so instead of failing silently.
    """
    if settings.database_url:
        from sqlalchemy.engine import make_url

        try:
            return make_url(settings.database_url).render_as_string(hide_password=True)
        except Exception:  # an invalid URL: opening the store reports it
            return "database_url (unparsable)"
    path = settings.data_dir / "darkroom.db"
    return f"{path}" if path.exists() else f"{path} (new: there was no store here yet)"


def _with_model_flags(settings: Settings, args: argparse.Namespace) -> Settings:
    from .model_flags import add_model_flags  # --model: diffusers [[models]] entries without a config file

    return add_model_flags(settings, args.model)


def _models(settings: Settings, args: argparse.Namespace) -> int:
    from .catalog import build_catalog

    catalog = build_catalog(_with_model_flags(settings, args))
    for spec in catalog:
        print(f"{spec.name:28} {spec.engine_name:10} {spec.family:12} {spec.description[:60]}")
    for route in catalog.routes.values():
        print(f"{route.name:28} {'route':10} {route.family:12} {route.strategy}: {', '.join(route.targets)}")
    return 0


def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    from .errors import InvalidRequest
    from .store import MetadataStore
    from .store.keys import Limits

    where = store_description(settings)
    store = MetadataStore.open(settings)
    print(f"Key store: {where}", file=sys.stderr)
    try:
        record, key = store.keys.create(args.name, Limits(args.rpm, args.images_per_minute, args.monthly_images,
                                                          args.monthly_budget), admin=args.admin, models=args.models)
    except InvalidRequest as exc:
        print(f"darkroom: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(key)
    print(f"Key '{record.name}' created{_limits_text(record)}. This is the only time it is shown.", file=sys.stderr)
    return 0


def _keys_list(settings: Settings, args: argparse.Namespace) -> int:
    from .store import MetadataStore

    where = store_description(settings)
    store = MetadataStore.open(settings)
    print(f"Key store: {where}", file=sys.stderr)
    try:
        keys = store.keys.list()
    finally:
        store.close()
    print(f"{'name':24} {'prefix':9} {'status':8} {'admin':5} {'rpm':>6} {'img/min':>8} {'img/month':>10} "
          f"{'$/month':>9} {'created (UTC)':19} models")
    for key in keys:
        limits = key.limits
        budget = _budget(limits.monthly_budget_usd)
        print(f"{key.name:24} {key.prefix + '…':9} {'revoked' if key.revoked_at else 'active':8} "
              f"{'yes' if key.admin else 'no':5} {_num(limits.rpm):>6} {_num(limits.images_per_minute):>8} "
              f"{_num(limits.monthly_images):>10} {budget:>9} {_utc(key.created_at)} "
              f"{','.join(key.models) if key.models is not None else '(all)'}")
    return 0


def _keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    from .store import MetadataStore

    store = MetadataStore.open(settings)
    try:
        revoked = store.keys.revoke(args.name)
    finally:
        store.close()
    if not revoked:
        print(f"darkroom: no active key named '{args.name}'", file=sys.stderr)
        return 1
    print(f"Key '{args.name}' revoked.", file=sys.stderr)
    return 0


def _usage(settings: Settings, args: argparse.Namespace) -> int:
    from .store import MetadataStore

    store = MetadataStore.open(settings)
    try:
        since = args.since if args.since is not None else time.time() - 30 * 86_400
        rows = store.ledger.rows(since, args.key)
    finally:
        store.close()
    if args.requests:
        print(f"{'time (UTC)':19} {'key':16} {'model':24} {'served by':24} {'op':9} {'n':>2} {'size':9} "
              f"{'status':>6} {'in tok':>7} {'out tok':>8} {'cost $':>10} {'ms':>8} {'error':32} request id")
        for row in rows:
            print(f"{_utc(row['created_at'])} {row['key_name'] or '-':16} {row['model'] or '-':24} "
                  f"{row['served_by'] or '-':24} {row['operation'] or '-':9} {_num(row['n']):>2} "
                  f"{row['size'] or '-':9} {row['status']:>6} {_num(row['input_tokens']):>7} "
                  f"{_num(row['output_tokens']):>8} {_cost(row['cost_usd']):>10} {row['total_ms']:>8.0f} "
                  f"{_error(row):32} {row['request_id']}")
        return 0
    totals: dict[tuple, _Totals] = {}
    for row in rows:
        totals.setdefault((_utc(row["created_at"])[:10], row["key_name"] or "-", row["model"] or "-"),
                          _Totals()).add(row)
    print(f"{'day (UTC)':10} {'key':20} {'model':26} {'requests':>8} {'images':>7} {'in tokens':>10} "
          f"{'out tokens':>11} {'cost $':>11} {'errors':>6}")
    for (day, key, model), s in sorted(totals.items()):
        print(f"{day:10} {key:20} {model:26} {s.requests:>8} {s.images:>7} {s.tokens_in:>10} {s.tokens_out:>11} "
              f"{s.cost():>11} {s.errors:>6}")
    return 0


@dataclass
class _Totals:
    """One line of `darkroom usage`: successful requests and what they made; errors apart; costs of all."""

    requests: int = 0
    images: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    micro_usd: int = 0  # an exact sum
    priced: int = 0
    unpriced: int = 0  # successful requests whose cost is unknown

    def add(self, row: dict) -> None:
        ok = row["status"] == 200
        if ok:
            self.requests += 1
            self.images += row["images"]
            self.tokens_in += row["input_tokens"] or 0
            self.tokens_out += row["output_tokens"] or 0
        else:
            self.errors += 1
        if row["cost_usd"] is not None:
            self.micro_usd += round(row["cost_usd"] * 1_000_000)
            self.priced += 1
        elif ok:
            self.unpriced += 1

    def cost(self) -> str:
        """The sum; "-" if no successful request's cost is known, and "+?" after it when some are not
        (failed requests cost nothing unless the ledger says otherwise)."""
        if self.unpriced and not self.priced:
            return "-"
        return _cost(self.micro_usd / 1_000_000) + ("+?" if self.unpriced else "")


def _limits_text(key) -> str:  # noqa: ANN001 - an ApiKey
    parts = [f"{value} {unit}" for value, unit in ((key.limits.rpm, "requests/min"),
             (key.limits.images_per_minute, "images/min"), (key.limits.monthly_images, "images/month"),
             (key.limits.monthly_budget_usd, "USD/month")) if value is not None]
    if key.models is not None:
        parts.append("models " + ",".join(key.models))
    return (" (" + ", ".join(parts) + ")") if parts else " (no limits)"


def _error(row: dict) -> str:
    """The error code, with what moderation blocked: `moderation_blocked(input:sexual)`; "-" if none."""
    if row["moderation"]:
        return f"{row['error_code'] or 'blocked'}({row['moderation']})"
    return row["error_code"] or "-"


def _budget(value: float | None) -> str:
    """Dollars and cents, or every digit of a budget finer than a cent; "-" for none."""
    if value is None:
        return "-"
    return f"{value:.2f}" if round(value, 2) == value else f"{value:g}"


def _cost(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"


def _num(value) -> str:  # noqa: ANN001
    return "-" if value is None else str(value)


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


if __name__ == "__main__":
    sys.exit(main())
