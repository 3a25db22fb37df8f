"""What `darkroom serve --ray` needs before Ray starts: state that every node shares.

Ingress replicas on several nodes must see the same keys, limits, ledger and stored images. SQLite in
a data directory, or images in a local folder, would give each node its own: a key revoked on one
would still work on another, a limit would count per node, a link would 404 on the node that did
not store the image. So `--ray` refuses to start without PostgreSQL (`database_url`) and S3-compatible
storage (`storage = "s3"`, `s3_bucket`). Checked first, so the message comes in a second, not after
Ray's start-up.
"""

from __future__ import annotations

from ..config import ConfigError, Settings


def check_shared_state(settings: Settings) -> None:
    """Raise ConfigError naming each missing piece of shared state."""
    problems = []
    if not settings.database_url.startswith("postgresql"):
        problems.append("the metadata store must be PostgreSQL (set database_url = \"postgresql+psycopg://...\"); "
                        "SQLite in data_dir would give each node its own keys, limits and ledger")
    if settings.storage != "s3" or not settings.s3_bucket:
        problems.append("image storage must be S3-compatible (set storage = \"s3\" and s3_bucket); a local folder "
                        "on each node would break links to images stored on another node")
    if problems:
        raise ConfigError("darkroom serve --ray needs shared state: " + "; ".join(problems))
