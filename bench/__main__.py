"""`make bench`: every benchmark in one run, then docs/performance.md's measured blocks rewritten.

    .venv/bin/python -m bench                        # all of them, about ten minutes on 2 cores
    .venv/bin/python -m bench --only checkout        # some of them
    .venv/bin/python -m bench --no-write             # print, leave docs/performance.md alone

Each benchmark's figures go between its markers in docs/performance.md
(`<!-- bench:NAME -->` ... `<!-- /bench:NAME -->`), headed with the command, the date and the
machine (nproc, memory, load average, Python, PostgreSQL). What is written around the markers
(how to read the figures, what the profiles show) is left as it is.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import checkout, history, processing, stack, webhooks
from bench.report import replace_block

DOC = stack.ROOT / "docs" / "performance.md"


@dataclass(frozen=True)
class Section:
    name: str
    command: str  # the same run on its own
    run: Callable[[], str]  # returns the Markdown to write


def _with_memory(table: str, outcome: dict[str, Any]) -> str:
    memory = outcome.get("memory") or {}
    if not memory:
        return table
    parts = [f"{name}: {', '.join(f'{mb:.0f}' for mb in values)} MB" for name, values in memory.items() if values]
    return f"{table}\n\nResident memory after the run: {'; '.join(parts)}."


def sections() -> list[Section]:
    def ack() -> str:
        outcome = webhooks.run(10, [16, 64])
        return _with_memory(webhooks.table(outcome), outcome)

    def drain() -> str:
        outcome = processing.run(2000, [1, 2])
        return _with_memory(processing.table(outcome), outcome)

    def pay() -> str:
        outcome = checkout.run(1000, [16, 32])
        return _with_memory(checkout.table(outcome), outcome)

    def pages() -> str:
        return history.run(1_000_000, 10_000, 200, 25_000)

    return [
        Section("webhooks", "python -m bench.webhooks --duration 10 --connections 16 64", ack),
        Section("processing", "python -m bench.processing --events 2000 --processes 1 2", drain),
        Section("checkout", "python -m bench.checkout --payments 1000 --clients 16 32", pay),
        Section("history", "python -m bench.history", pages),
    ]


def postgres_version() -> str:
    try:
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip().split()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def heading(command: str, seconds: float, load_at_start: str) -> str:
    moment = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"Measured by `make bench` on {moment} in {seconds:.0f} s (alone: `.venv/bin/{command}`). "
        f"Machine: {load_at_start}; Python {platform.python_version()}, PostgreSQL {postgres_version()}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [section.name for section in sections()]
    parser.add_argument("--only", nargs="+", choices=names, help="run these benchmarks only")
    parser.add_argument("--no-write", action="store_true", help="print the figures; leave docs/performance.md alone")
    args = parser.parse_args()
    started = time.monotonic()
    for section in sections():
        if args.only and section.name not in args.only:
            continue
        print(f"\n=== {section.name} ===")
        load_at_start, began = stack.machine(), time.monotonic()
        figures = section.run()
        block = f"{heading(section.command, time.monotonic() - began, load_at_start)}\n\n{figures}"
        print(f"\n{block}")
        if not args.no_write:
            DOC.write_text(replace_block(DOC.read_text(), section.name, block))
            print(f"(written to {DOC.relative_to(stack.ROOT)})")
    print(f"\nmake bench: done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
