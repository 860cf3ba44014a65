"""CPU per order read, with the app driven in-process: `on`, `off` and `limit` in alternating rounds.

`bench/instructions.py` counts instructions, which repeat closely but weigh every instruction alike.
Code that runs more distinct functions per request runs fewer instructions per cycle, so a ratio of
instructions understates a ratio of CPU. This drives the same reads through the same ASGI interface,
without valgrind, and reads the process's own CPU time (user and system) over the measured reads:
each mode in a fresh process pinned to CPU 0, the collector set as the server sets it, the modes
taking turns round by round. It prints each mode's CPU per read and its CPU over the limit's (the
median of the rounds' own ratios). No server and no load generator share the CPU, so a round takes
seconds, and the ratios come out close to `make bench`'s.

    uv run --frozen python bench/in_process_cpu.py [ROUNDS] [READS]   # 5 rounds of 20,000 reads

`BENCH_CANDIDATES="name=/path/to/src,..."` (as `bench/run.py limit` takes it) drives other versions of
the package beside them, in mode `on`.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys

import uvloop
from instructions import WARM_UP, order_to_read, read_order  # bench/, first on the path
from run import candidates, create_database, drop_database, server_env

from app.server import settle_gc

CONCURRENCY = 64  # as `make bench`'s connections: callers wait for the pool
MODES = ("limit", "off", "on")


def main(rounds: int, reads: int) -> None:
    url = asyncio.run(create_database())
    drives: list[tuple[str, str, dict[str, str]]] = [(mode, mode, {}) for mode in MODES]
    drives += [(name, "on", env) for name, env in candidates()]
    per_read: dict[str, list[float]] = {name: [] for name, _, _ in drives}
    try:
        for number in range(1, rounds + 1):
            for name, mode, env in drives:
                per_read[name].append(_cpu_per_read(mode, reads, server_env(url, METRICS_PORT="0", **env)))
            spent = ", ".join(f"{name} {values[-1]:.0f} µs" for name, values in per_read.items())
            print(f"round {number}: {spent}", flush=True)
    finally:
        asyncio.run(drop_database(url))
    limit = per_read["limit"]
    for name, values in per_read.items():
        over = statistics.median(value / base for value, base in zip(values, limit, strict=True))
        print(
            f"{name:>10}: {statistics.median(values):6.1f} µs of CPU per read, {over:.2f} times the limit's"
        )


def _cpu_per_read(mode: str, reads: int, env: dict[str, str]) -> float:
    command = [sys.executable, __file__, "--drive", mode, str(reads)]
    # The access lines go to stdout, dropped as `make bench` drops them; the figure comes last on stderr.
    done = subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True
    )
    return float(done.stderr.split()[-1])


async def drive(mode: str, reads: int) -> None:
    """Prints, last on stderr, the CPU µs per read of `reads` reads after the warm-up."""
    async with order_to_read(mode) as (served, path):
        await read_order(served, path, WARM_UP, CONCURRENCY)
        settle_gc()
        before = _cpu_seconds()
        await read_order(served, path, reads, CONCURRENCY)
        spent = _cpu_seconds() - before
    print(spent * 1e6 / (reads // CONCURRENCY * CONCURRENCY), file=sys.stderr)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        os.sched_setaffinity(0, {0})
        uvloop.run(drive(sys.argv[2], int(sys.argv[3])))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, int(sys.argv[2]) if len(sys.argv) > 2 else 20_000)
