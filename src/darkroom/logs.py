"""Darkroom's log lines: one format, at the `log_level` setting, in every process that serves.

`darkroom serve` (and the CLI's other commands) configure Python's root logger with `configure()`. Under
`--ray` the ingress and model replicas are processes of Ray's: Ray configures its own loggers there and
leaves the root logger without a handler, so Darkroom's INFO lines (the access log's JSON lines, replica
start-ups, the prompt log) would be dropped. `configure_replica()` gives the `darkroom` logger its own
handler on stderr, which Ray writes to the worker's log file and streams to the driver (`darkroom serve
--ray`'s output, each line prefixed with the replica), and stops those lines from reaching the root
logger twice.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_REPLICA_HANDLER = "darkroom-replica"


def configure(level: str) -> None:
    """The root logger at `level` (a setting's name: "info", "warning", ...), in Darkroom's format."""
    logging.basicConfig(level=level.upper(), format=FORMAT)


def configure_replica(level: str) -> None:
    """The `darkroom` logger at `level` with a handler of its own, once per process (Ray replicas)."""
    logger = logging.getLogger("darkroom")
    logger.setLevel(level.upper())
    if not any(handler.get_name() == _REPLICA_HANDLER for handler in logger.handlers):
        handler = logging.StreamHandler()
        handler.set_name(_REPLICA_HANDLER)
        handler.setFormatter(logging.Formatter(FORMAT))
        logger.addHandler(handler)
    logger.propagate = False
