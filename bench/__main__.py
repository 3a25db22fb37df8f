"""`python -m bench [NAME ...] [--quick]`: run every benchmark, or the named ones, and print each table.

A benchmark is a module `bench/<name>.py` with a function `run(quick: bool) -> str` that runs the
benchmark (with its baseline, alternating rounds) and returns the table to print. Modules whose
name starts with `_`, and modules without `run` (such as `baseline_server`), are not benchmarks.
Benchmarks run in name order.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

from ._common import machine_description


def discover() -> dict[str, object]:
    found = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if callable(getattr(module, "run", None)):
            found[info.name] = module
    return found


def main(argv: list[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run Darkroom's benchmarks.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all: "
                                                                  f"{', '.join(benchmarks)})")
    parser.add_argument("--quick", action="store_true", help="far fewer requests and rounds: a smoke run")
    parser.add_argument("--requests", type=int, help="soak: how many requests (default 1000)")
    parser.add_argument("--concurrency", type=int, help="soak: clients at once (default 64)")
    parser.add_argument("--engines", help="soak: sketch,diffusers (default both)")
    parser.add_argument("--rounds", type=int, help="soak: run the mix this many times against one server, "
                                                   "sampling RSS after each (default 1)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(benchmarks)})")
    print(machine_description(), flush=True)
    for name in args.names or list(benchmarks):
        started = time.monotonic()
        print(f"\n### {name}{' (quick)' if args.quick else ''}", flush=True)
        options = ({"requests": args.requests, "concurrency": args.concurrency, "engines": args.engines,
                    "rounds": args.rounds}
                   if name == "soak" else {})
        print(benchmarks[name].run(args.quick, **options), flush=True)
        print(f"({name} took {time.monotonic() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
