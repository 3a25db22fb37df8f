"""The `darkroom` command.

    darkroom serve [--host HOST] [--port PORT] [--config FILE]   run the server under uvicorn
    darkroom models [--config FILE]                                list the served models

Every subcommand reads the same settings: defaults < --config FILE (or DARKROOM_CONFIG) <
DARKROOM_* environment variables < flags.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .config import ConfigError, Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, **_overrides(args))
        return args.func(settings)
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
    serve.set_defaults(func=_serve)

    models = commands.add_parser("models", help="list the served models", description="List the served models.")
    models.add_argument("--config", metavar="FILE", help="TOML settings file (DARKROOM_CONFIG)")
    models.set_defaults(func=_models)
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name, None) for name in ("host", "port", "log_level")}


def _serve(settings: Settings) -> int:
    from .api.app import create_app
    from .shutdown import DrainingServer

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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


def _models(settings: Settings) -> int:
    from .catalog import build_catalog

    for spec in build_catalog(settings):
        print(f"{spec.name:28} {spec.engine_name:10} {spec.family:12} {spec.description[:60]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
