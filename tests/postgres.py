"""A throwaway PostgreSQL server for the tests: `start_postgres()` and `stop_postgres(server)`.

    initdb into a fresh folder (owned by the `postgres` user when the tests run as root: initdb and
    the server refuse to run as root), pg_ctl start on 127.0.0.1 and a free port, with the unix socket
    in the same folder and fsync off, then a role with a password and a database of its own.

`pause_postgres(server)` and `resume_postgres(server)` stop it and start it again on the same data
folder and port (the fault tests).

`PgServer.url` is a `postgresql+psycopg://` URL for that role and database, as a user would put in
`database_url`; `create_database(name)` gives each test a fresh, empty database on the same server.
The binaries are found under /usr/lib/postgresql/*/bin (Debian's layout), else on PATH. Where there
are none the test fails (it does not skip): `scripts/install-postgres` installs them, and
`scripts/test` runs it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from .conftest import free_port

NOT_INSTALLED = "PostgreSQL is not installed: run scripts/install-postgres (scripts/test does it)"
ROLE, PASSWORD, DATABASE = "darkroom", "darkroom-test-password", "darkroom"
SUPERUSER = "postgres"


@dataclass
class PgServer:
    url: str  # postgresql+psycopg://darkroom:...@127.0.0.1:PORT/darkroom
    folder: Path  # everything: data/, sock/, server.log; removed by stop_postgres
    bin_dir: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "sock"

    def log(self) -> str:
        path = self.folder / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def admin(self) -> psycopg.Connection:
        """A superuser connection over the unix socket, in autocommit."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres",
                               autocommit=True)

    def create_database(self, name: str) -> str:
        """A fresh database owned by the test role; returns its URL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return url_for(self.port, name)


def url_for(port: int, database: str) -> str:
    return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{port}/{database}"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, else the folder of initdb on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        newest = max(found, key=lambda path: int(Path(path).parent.parent.name.split(".")[0]))
        return Path(newest).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def start_postgres(parent: Path | None = None, timeout: float = 60.0) -> PgServer:
    """Start a fresh server in a new folder under `parent` (default: the system's temp folder).

    As root the folder is given to the `postgres` user, so `parent` must be a folder that user can
    enter (pytest's tmp_path, under a root-only /tmp/pytest-of-root, is not).
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(NOT_INSTALLED, pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="darkroom-pg-", dir=parent))
    (folder / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(folder / "sock", "postgres", "postgres")
    try:
        _initdb(bin_dir, folder)
        port = _start(bin_dir, folder, timeout)
        server = PgServer(url_for(port, DATABASE), folder, bin_dir, port)
        with server.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
    except BaseException:
        _pg_ctl_stop(bin_dir, folder)
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return server


def stop_postgres(server: PgServer) -> None:
    _pg_ctl_stop(server.bin_dir, server.folder)
    shutil.rmtree(server.folder, ignore_errors=True)


def pause_postgres(server: PgServer) -> None:
    """Stop the server (`pg_ctl stop -m fast`: clients are disconnected), keeping its data folder."""
    _pg_ctl_stop(server.bin_dir, server.folder)


def resume_postgres(server: PgServer, timeout: float = 60.0) -> None:
    """Start a paused server again: the same data folder, the same port."""
    options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} "
               f"-c unix_socket_directories={server.socket_dir} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=100")
    done = _run(server.bin_dir, server.folder, "pg_ctl", "start", "-D", str(server.data_dir), "-l",
                str(server.folder / "server.log"), "-w", "-t", str(int(timeout)), "-o", options, timeout=timeout + 10)
    if done.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{server.log()}")


def _run(bin_dir: Path, folder: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    command = [str(bin_dir / args[0]), *args[1:]]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=timeout,
                          check=False)


def _initdb(bin_dir: Path, folder: Path) -> None:
    # Local (socket) connections are trusted, for the admin connection; TCP needs the role's password.
    done = _run(bin_dir, folder, "initdb", "-D", str(folder / "data"), "-U", SUPERUSER, "--auth-local=trust",
                "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _start(bin_dir: Path, folder: Path, timeout: float) -> int:
    """pg_ctl start on a free port; a few tries, since another process may take the port meanwhile."""
    for _ in range(3):
        port = free_port()
        options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder / 'sock'} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        done = _run(bin_dir, folder, "pg_ctl", "start", "-D", str(folder / "data"), "-l", str(folder / "server.log"),
                    "-w", "-t", str(int(timeout)), "-o", options, timeout=timeout + 10)
        if done.returncode == 0:
            return port
        time.sleep(0.2)
    log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
    raise RuntimeError(f"pg_ctl start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}")


def _pg_ctl_stop(bin_dir: Path, folder: Path) -> None:
    if (folder / "data" / "postmaster.pid").exists():
        _run(bin_dir, folder, "pg_ctl", "stop", "-D", str(folder / "data"), "-m", "fast", "-w", timeout=60)
