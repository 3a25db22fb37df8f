"""Helpers shared by the benchmarks: machine description, server processes, statistics, tables.

Only 127.0.0.1 is ever used. Every server started here is stopped by the caller in a `finally`
(`stop_process`), and every wait is bounded.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# Machine


def machine_description() -> str:
    """One block of text naming the CPU, cores, Python and the versions that move the numbers."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    versions = []
    for name in ("darkroom", "numpy", "pillow", "fastapi", "starlette", "pydantic", "uvicorn", "uvloop",
                 "httptools", "httpx"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "\n".join([
        f"machine : {cpu}, {os.cpu_count()} cores ({usable} usable), {platform.system()} {platform.release()}",
        f"python  : {platform.python_implementation()} {platform.python_version()}",
        f"packages: {', '.join(versions)}",
        f"date    : {now}",
    ])


# ---------------------------------------------------------------------------------------------
# Server processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_process(args: Sequence[str], log_path: Path, health_url: str, *, timeout: float = 60.0,
                  env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server process (stdout and stderr to `log_path`) and wait until `health_url` answers 200."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("DARKROOM_")}
    child_env.update(env or {})
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, env=child_env, cwd=REPO_ROOT)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{args[:4]} did not become healthy in {timeout} s:\n{_tail(log_path)}")
    except BaseException:
        stop_process(process)
        raise


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate (then kill, after 15 s) a process started by `start_process`."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its live threads (Linux /proc; NaN elsewhere).

    Sums /proc/PID/task/*/schedstat (nanoseconds on CPU); falls back to utime + stime from
    /proc/PID/stat (clock ticks, usually 10 ms) where schedstat is missing. Threads that exited
    take their time with them under schedstat: fine for thread pools, which keep their threads.
    """
    try:
        total_ns = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total_ns += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
        if total_ns:
            return total_ns / 1e9
    except OSError:
        pass
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# Statistics and tables


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else float("nan")


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or b == 0:
        return "-"
    value = a / b
    return f"{value:.2f}x" if abs(value) >= 0.1 else f"{value:.2g}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [str(c).ljust(widths[0]) if i == 0 else str(c).rjust(widths[i]) for i, c in enumerate(row)]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def python() -> str:
    return sys.executable


def package_versions(*names: str) -> str:
    """"name version, ..." for each distribution, "name -" for those not installed."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def rotated(items: list, round_index: int) -> list:
    """`items` in this round's order: rotated by the round, reversed every other round, so that no
    candidate always runs first or last."""
    shift = round_index % len(items)
    order = items[shift:] + items[:shift]
    return order[::-1] if round_index % 2 else order
