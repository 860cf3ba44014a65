"""Load benchmark: the real server, the real Postgres and Redis, wrk as the load generator.

Prints req/s, p50, p99, errors and server CPU µs per request for each scenario, and every throughput
as a ratio of a bare FastAPI endpoint measured in the same run. The server is pinned to CPU 0 and wrk
to CPU 1, as in the measurements behind docs/observability.md.

This host's speed drifts by ±20 % within minutes, so the modes are measured in alternating rounds
(bare, off, on, bare, off, on, ...) and each scenario keeps its best round: drift then slows every
mode alike instead of whichever ran during a slow minute. CPU µs per request (from /proc) is the
steadier figure; the on/off cost is printed from both.

    make bench                       # 8 s per scenario, 3 rounds
    BENCH_SECONDS=5 BENCH_ROUNDS=2 make bench   # quicker
    make bench-telemetry             # only the order read, telemetry off and on, 10 rounds
Needs `wrk` (Debian package `wrk`). Writes bench/results/latest.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median

import asyncpg
import httpx

from app.migrations.runner import upgrade_head
from app.settings import Settings

HERE = Path(__file__).resolve().parent
ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "bench-key-0123456789abcdef"
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))


def free_port() -> int:
    """A port nothing listens on: another benchmark on the same host must never answer ours."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


PORT, METRICS_PORT = free_port(), free_port()


@dataclass
class Result:
    mode: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_us: float  # server CPU (user + system) per request
    status_errors: int = 0  # answers >= 400 (of `errors`)
    timeouts: int = 0  # no answer within wrk's 2 s (of `errors`)


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "FF_"))}
    env |= {
        "APP_ENV": "prod",
        "HOST": "127.0.0.1",
        "PORT": str(PORT),
        "METRICS_PORT": str(METRICS_PORT),
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
        "API_KEYS": API_KEY,
        "LOG_LEVEL": "INFO",
        "DRAIN_SECONDS": "0",
    }
    return env | extra


class Server:
    """A server process on CPU 0: `bench/serve.py mode` unless `command` names another."""

    def __init__(self, mode: str, env: dict[str, str], command: list[str] | None = None) -> None:
        self.mode = mode
        self.port = int(env["PORT"])
        command = ["taskset", "-c", "0", *(command or [sys.executable, str(HERE / "serve.py"), mode])]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/bench/hello", timeout=0.5)
                if self.process.poll() is None:  # ours answered, not another process on the port
                    return
                break
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the {mode} server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


def cpu_seconds(pid: int) -> float:
    """CPU (user + system) of a process and its descendants: a server may serve from child processes."""
    proc = Path(f"/proc/{pid}")
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        tasks = (proc / "task").iterdir()
        children = [int(child) for task in tasks for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        return 0.0  # it (or one of its threads) ended while being read: nothing of it is serving
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS + sum(map(cpu_seconds, children))


def wrk(
    script: str, path: str, env: dict[str, str], seconds: int = SECONDS, port: int = PORT
) -> dict[str, float]:
    command = [
        "taskset", "-c", "1", "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
        "-s", str(HERE / "wrk" / script), f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    summary: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return summary


def measure(
    server: Server, scenario: str, script: str, path: str, env: dict[str, str], *, seconds: int = SECONDS
) -> Result:
    warm = {"BENCH_SALT": uuid.uuid4().hex[:6], "BENCH_PHASE": "warm"}
    wrk(script, path, env | warm, seconds=3, port=server.port)
    cpu_before = server.cpu_seconds()
    measured = {"BENCH_SALT": uuid.uuid4().hex[:6], "BENCH_PHASE": "run"}
    run = wrk(script, path, env | measured, seconds, port=server.port)
    cpu_us = (server.cpu_seconds() - cpu_before) / run["requests"] * 1e6
    rps = run["requests"] / run["seconds"]
    result = Result(
        server.mode, scenario, rps, run["p50_ms"], run["p99_ms"], int(run["errors"]), cpu_us,
        int(run["status_errors"]), int(run["timeouts"]),
    )  # fmt: skip
    print(f"  {server.mode:<16} {scenario:<22} {rps:>7,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
          f"p99 {result.p99_ms:7.2f} ms  errors {result.errors} (status {result.status_errors}, "
          f"timeouts {result.timeouts})  cpu {cpu_us:5.0f} µs/req",
          flush=True)  # fmt: skip
    return result


async def create_database() -> str:
    name = f"app_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    await upgrade_head(Settings(_env_file=None, database_url=url, api_keys=API_KEY))
    return url


async def drop_database(url: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def seed(port: int = PORT) -> tuple[str, str]:
    """A customer with 21 orders (a full first page of the list, and a next one), and one of them."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}) as http:
        email = f"seed-{uuid.uuid4().hex[:8]}@example.com"
        customer = http.post("/v1/customers", json={"email": email, "name": "Seed"}).json()
        items = [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}]
        for _ in range(21):
            order = http.post("/v1/orders", json={"customer_id": customer["id"], "items": items}).json()
        return customer["id"], order["id"]


CANCELLABLE = 50_000  # placed orders per phase of the cancel scenario: more than a run cancels


async def seed_cancellable(database_url: str, customer_id: str) -> dict[str, str]:
    """Placed orders for bench/wrk/cancel.lua, one range per phase, and the variables naming them."""
    prefix = uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(database_url)
    try:
        for phase in (0, 1):
            await conn.execute(
                "INSERT INTO orders (id, customer_id, checkout_flow, total_cents, items)"
                " SELECT ($1 || '-' || lpad(to_hex($2::int), 4, '0') || '-4000-8000-'"
                " || lpad(to_hex(n), 12, '0'))::uuid, $3, 'legacy', 100, '[]'"
                " FROM generate_series(1, $4::int) n",
                prefix, phase, uuid.UUID(customer_id), CANCELLABLE,
            )  # fmt: skip
    finally:
        await conn.close()
    return {"BENCH_ORDER_PREFIX": prefix, "BENCH_ORDERS": str(CANCELLABLE)}


def scenario_env(name: str, wrk_env: dict[str, str], customer_id: str, database_url: str) -> dict[str, str]:
    """What a scenario's wrk script reads: the seeded customer, and for the cancel, orders to cancel."""
    env = wrk_env | {"BENCH_CUSTOMER_ID": customer_id}
    if name == "cancel":
        env |= asyncio.run(seed_cancellable(database_url, customer_id))
    return env


# Every scenario: its wrk script and path (`{customer_id}` and `{order_id}` are the seeded rows').
SCENARIOS = {
    "hello": ("get.lua", "/bench/hello"),
    "order read": ("get.lua", "/v1/orders/{order_id}"),
    "order list": ("get.lua", "/v1/customers/{customer_id}/orders"),  # the first page, 20 orders
    "customer read": ("get.lua", "/v1/customers/{customer_id}"),
    "signup": ("signup.lua", "/v1/customers"),
    "place order": ("order.lua", "/v1/orders"),
    "place order, new key": ("order_key.lua", "/v1/orders"),  # a fresh Idempotency-Key every request
    "place order, replay": ("order_replay.lua", "/v1/orders"),  # one key: the first places, the rest replay
    "cancel": ("cancel.lua", "/v1/orders"),  # a placed order each time (seed_cancellable)
}
FULL_SCENARIOS = (
    "hello", "order read", "order list", "customer read", "signup",
    "place order", "place order, new key", "place order, replay", "cancel",
)  # fmt: skip
# The scenarios with a same-work limit (bench/limit.py), and the floors over it (bench/README.md):
# server CPU per request at most this many times the limit's, throughput at least this share of it.
LIMIT_FLOORS = {
    "order read": (1.6, 0.6),
    "order list": (1.6, 0.6),
    "customer read": (1.6, 0.6),
    "signup": (2.0, 0.5),
    "place order": (2.0, 0.5),
    "place order, new key": (2.0, 0.5),
    "place order, replay": (2.0, 0.5),
    "cancel": (2.0, 0.5),
}
TRACERS = ("metrics-ours", "trace-ours", "trace-builtin", "trace-contrib")


def run_scenarios(
    server: Server, names: tuple[str, ...], wrk_env: dict[str, str], database_url: str
) -> list[Result]:
    """Seed a customer and orders through `server`, then measure each scenario on it."""
    customer_id, order_id = seed(server.port)
    results = []
    for name in names:
        script, path = SCENARIOS[name]
        env = scenario_env(name, wrk_env, customer_id, database_url)
        url = path.format(customer_id=customer_id, order_id=order_id)
        results.append(measure(server, name, script, url, env))
    return results


def one_round(database_url: str, wrk_env: dict[str, str]) -> list[Result]:
    results = [run_bare("bare", database_url, wrk_env), *run_limit(database_url, wrk_env)]
    for mode in ("off", "on"):
        with Server(mode, server_env(database_url)) as server:
            results += run_scenarios(server, FULL_SCENARIOS, wrk_env, database_url)
    return results


def run_limit(database_url: str, wrk_env: dict[str, str]) -> list[Result]:
    with Server("limit", server_env(database_url)) as server:
        return run_scenarios(server, tuple(LIMIT_FLOORS), wrk_env, database_url)


def data_path_round(database_url: str, wrk_env: dict[str, str]) -> list[Result]:
    """`bench/run.py limit`: only the scenarios with a limit, on the limit, the app (telemetry on) and
    each `BENCH_CANDIDATES` source tree served the same way. The servers run side by
    side (on CPU 0, each on its own port) and take turns scenario by scenario, so each ratio's two
    sides are measured within a minute of each other on a host whose speed drifts."""
    serve_on = [sys.executable, str(HERE / "serve.py"), "on"]
    modes: list[tuple[str, dict[str, str], list[str] | None]] = [
        ("limit", {}, None),
        ("on", {}, serve_on),
        *((name, env, serve_on) for name, env in candidates()),
    ]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(Server(mode, server_env(database_url, **env, **ports()), command))
            for mode, env, command in modes
        ]
        seeded = {server.mode: seed(server.port) for server in servers}
        results = []
        for name in LIMIT_FLOORS:
            script, path = SCENARIOS[name]
            for server in servers:
                customer_id, order_id = seeded[server.mode]
                env = scenario_env(name, wrk_env, customer_id, database_url)
                url = path.format(customer_id=customer_id, order_id=order_id)
                results.append(measure(server, name, script, url, env))
        return results


def ports() -> dict[str, str]:
    """A port and a metrics port of its own, for one of the servers running side by side."""
    return {"PORT": str(free_port()), "METRICS_PORT": str(free_port())}


def candidates() -> list[tuple[str, dict[str, str]]]:
    """`BENCH_CANDIDATES="name=/path/to/src,..."`: other versions of the package (a `git worktree` of
    another commit, say), each served by this bench/serve.py in mode `on` under its name."""
    pairs = [item.split("=", 1) for item in os.environ.get("BENCH_CANDIDATES", "").split(",") if item]
    return [(name, {"PYTHONPATH": path}) for name, path in pairs]


def run_bare(mode: str, database_url: str, wrk_env: dict[str, str]) -> Result:
    with Server(mode, server_env(database_url)) as server:
        return measure(server, "hello", "get.lua", "/bench/hello", wrk_env)


def wrk_settings() -> dict[str, str]:
    return os.environ | {"BENCH_API_KEY": API_KEY, "BENCH_WRK_DIR": str(HERE / "wrk")}


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")


def main(data_path_only: bool = False) -> None:
    require_wrk()
    database_url = asyncio.run(create_database())
    wrk_env = wrk_settings()
    rounds: list[list[Result]] = []
    print(f"{ROUNDS} rounds, {SECONDS} s per scenario, {CONNECTIONS} connections, "
          f"server on CPU 0, wrk on CPU 1", flush=True)  # fmt: skip
    try:
        for number in range(1, ROUNDS + 1):
            print(f"round {number}", flush=True)
            if data_path_only:
                rounds.append(data_path_round(database_url, wrk_env))
                continue
            tracers = [run_bare(mode, database_url, wrk_env) for mode in TRACERS]
            rounds.append(one_round(database_url, wrk_env) + tracers)
    finally:
        asyncio.run(drop_database(database_url))
    report(rounds)


def telemetry_rounds(rounds: int) -> None:
    """Telemetry's cost on its own: the order read with telemetry off and on, in `rounds`
    alternating pairs. One pair's cost moves with the host's speed, so the cost is read from the
    median of many pairs, not from `make bench`'s three rounds (bench/README.md)."""
    require_wrk()
    database_url = asyncio.run(create_database())
    wrk_env = wrk_settings()
    costs: list[float] = []
    try:
        for number in range(1, rounds + 1):
            pair: dict[str, Result] = {}
            for mode in ("off", "on"):
                with Server(mode, server_env(database_url)) as server:
                    _, order_id = seed()
                    path = f"/v1/orders/{order_id}"
                    pair[mode] = measure(server, f"order read {number}", "get.lua", path, wrk_env)
            costs.append(1 - pair["on"].rps / pair["off"].rps)
    finally:
        asyncio.run(drop_database(database_url))
    print(f"\ntelemetry cost on the order read, per round: {', '.join(f'{c:.1%}' for c in costs)}")
    print(f"median {median(costs):.1%}, best and worst {min(costs):.1%} and {max(costs):.1%} (target ≤ 10 %)")


def best(rounds: list[list[Result]]) -> dict[tuple[str, str], Result]:
    """Per (mode, scenario): the round with the most throughput, and the least CPU of any round."""
    chosen: dict[tuple[str, str], Result] = {}
    for result in (r for one in rounds for r in one):
        key = (result.mode, result.scenario)
        kept = chosen.get(key)
        if kept is None or result.rps > kept.rps:
            chosen[key] = Result(
                **asdict(result) | {"cpu_us": min(result.cpu_us, kept.cpu_us if kept else 1e9)}
            )
        else:
            kept.cpu_us = min(kept.cpu_us, result.cpu_us)
    return chosen


def report_over_bare(rounds: list[list[Result]], results: dict[tuple[str, str], Result]) -> None:
    ratios = within_rounds(rounds)
    bare = results[("bare", "hello")]
    print(f"\nbest of {len(rounds)} rounds; ratios against bare FastAPI hello "
          f"({bare.rps:,.0f} req/s, {bare.cpu_us:.0f} µs/req): best round over best bare, and the median "
          f"of each round's own ratio (the same minute's host speed on both sides)")  # fmt: skip
    for key, r in results.items():
        print(f"  {r.mode:<16} {r.scenario:<22} {r.rps / bare.rps:5.2f}  median {median(ratios[key]):5.2f}  "
              f"p99 {r.p99_ms:6.1f} ms  cpu {r.cpu_us:5.0f} µs/req  errors {r.errors}")  # fmt: skip
    print("\ntelemetry on / off (same scenario): throughput ratio, and cost from throughput and from CPU")
    for (mode, scenario), on in results.items():
        off = results.get(("off", scenario))
        if mode == "on" and off:
            pairs = zip(ratios[(mode, scenario)], ratios[("off", scenario)], strict=True)
            each = median(1 - on_ratio / off_ratio for on_ratio, off_ratio in pairs)
            print(f"  {scenario:<22} {on.rps / off.rps:5.2f}  cost {1 - on.rps / off.rps:6.1%}  "
                  f"cpu cost {1 - off.cpu_us / on.cpu_us:6.1%}  per round {each:6.1%}")  # fmt: skip
    metrics_only = results[("metrics-ours", "hello")]
    print("\ntracing, every request traced, on bare FastAPI hello: CPU µs/req added")
    for mode in ("trace-ours", "trace-builtin", "trace-contrib"):
        base = metrics_only if mode == "trace-ours" else bare
        traced = results[(mode, "hello")]
        print(f"  {mode:<16} +{traced.cpu_us - base.cpu_us:5.0f} µs  ({traced.rps / bare.rps:4.2f}x bare)")


def report_over_limit(rounds: list[list[Result]], results: dict[tuple[str, str], Result]) -> None:
    """Each data scenario over its same-work limit, per mode: throughput and CPU per request, each the
    median of the rounds' own ratios, against the floors; the p99 and CPU of the best rounds beside
    them; errors counted over every round."""
    rps = within_rounds(rounds, yardstick=lambda r: ("limit", r.scenario))
    cpu = within_rounds(rounds, yardstick=lambda r: ("limit", r.scenario), measure=lambda r: r.cpu_us)
    print("\nover the same-work limit (bench/limit.py), median of the rounds' own ratios: "
          "throughput (floor), CPU per request (ceiling); the limit's best round beside it")  # fmt: skip
    for (mode, scenario), r in results.items():
        if mode in {"limit", "bare"} or scenario not in LIMIT_FLOORS or ("limit", scenario) not in results:
            continue
        cpu_ceiling, rps_floor = LIMIT_FLOORS[scenario]
        limit = results[("limit", scenario)]
        rps_ratio, cpu_ratio = median(rps[(mode, scenario)]), median(cpu[(mode, scenario)])
        errors = sum(
            one.errors for rnd in rounds for one in rnd if (one.mode, one.scenario) == (mode, scenario)
        )
        verdict = "ok" if rps_ratio >= rps_floor and cpu_ratio <= cpu_ceiling and errors == 0 else "MISS"
        print(f"  {mode:<10} {scenario:<22} req/s {rps_ratio:4.2f} (≥ {rps_floor})  "
              f"cpu {cpu_ratio:4.2f} (≤ {cpu_ceiling})  p99 {r.p99_ms:6.1f} ms over {limit.p99_ms:6.1f}  "
              f"{r.cpu_us:5.0f} over {limit.cpu_us:5.0f} µs/req  errors {errors}  {verdict}")  # fmt: skip


def within_rounds(
    rounds: list[list[Result]],
    yardstick: Callable[[Result], tuple[str, str]] = lambda _: ("bare", "hello"),
    measure: Callable[[Result], float] = lambda r: r.rps,
) -> dict[tuple[str, str], list[float]]:
    """Per (mode, scenario): its throughput (or another `measure`) over its yardstick's (mode, scenario)
    in the same round, one per round. The default yardstick is bare FastAPI's hello."""
    ratios: dict[tuple[str, str], list[float]] = {}
    for one in rounds:
        measured = {(r.mode, r.scenario): r for r in one}
        for r in one:
            if yardstick(r) in measured:
                ratios.setdefault((r.mode, r.scenario), []).append(
                    measure(r) / measure(measured[yardstick(r)])
                )
    return ratios


def report(rounds: list[list[Result]]) -> None:
    results = best(rounds)
    if ("bare", "hello") in results:
        report_over_bare(rounds, results)
    report_over_limit(rounds, results)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    payload = {
        "seconds": SECONDS,
        "connections": CONNECTIONS,
        "rounds": [[asdict(r) for r in one] for one in rounds],
        "best": [asdict(r) for r in results.values()],
    }
    (out / "latest.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    if sys.argv[1:] == ["telemetry"]:
        telemetry_rounds(int(os.environ.get("BENCH_ROUNDS", "10")))
    else:
        main(data_path_only=sys.argv[1:] == ["limit"])
