"""Load benchmark: the real server, the real Postgres and Redis, wrk as the load generator.

Prints req/s, p50, p99 and errors per scenario, and every throughput as a ratio of a bare FastAPI
endpoint measured in the same run (absolute numbers drift with the host; ratios hold). The server is
pinned to CPU 0 and wrk to CPU 1, as in the measurements behind docs/observability.md.

    make bench                       # 10 s per scenario
    BENCH_SECONDS=5 make bench       # quicker
Needs `wrk` (Debian package `wrk`). Writes bench/results/latest.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
import httpx

from app.migrations.runner import upgrade_head
from app.settings import Settings

HERE = Path(__file__).resolve().parent
ADMIN_DSN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "bench-key-0123456789abcdef"
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
PORT, METRICS_PORT = 18_080, 19_080


@dataclass
class Result:
    mode: str
    scenario: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _env(database_url: str, **extra: str) -> dict[str, str]:
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
    def __init__(self, mode: str, env: dict[str, str]) -> None:
        command = ["taskset", "-c", "0", sys.executable, str(HERE / "serve.py"), mode]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/bench/hello", timeout=0.5)
                return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the {mode} server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def wrk(script: str, path: str, env: dict[str, str]) -> dict[str, float]:
    command = [
        "taskset", "-c", "1", "wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency",
        "-s", str(HERE / "wrk" / script), f"http://127.0.0.1:{PORT}{path}",
    ]  # fmt: skip
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    summary: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return summary


def measure(mode: str, scenario: str, script: str, path: str, env: dict[str, str]) -> Result:
    wrk(script, path, env | {"BENCH_SALT": uuid.uuid4().hex[:6]})  # warm
    run = wrk(script, path, env | {"BENCH_SALT": uuid.uuid4().hex[:6]})
    result = Result(
        mode, scenario, run["requests"] / run["seconds"], run["p50_ms"], run["p99_ms"], int(run["errors"])
    )
    print(f"  {mode:<8} {scenario:<22} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
          f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}", flush=True)  # fmt: skip
    return result


async def _database() -> str:
    name = f"app_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    await upgrade_head(Settings(_env_file=None, database_url=url, api_keys=API_KEY))
    return url


async def _drop(url: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await admin.close()


def seed() -> tuple[str, str]:
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"X-API-Key": API_KEY}) as http:
        email = f"seed-{uuid.uuid4().hex[:8]}@example.com"
        customer = http.post("/v1/customers", json={"email": email, "name": "Seed"}).json()
        items = [{"sku": "A-1", "quantity": 1, "unit_price_cents": 100}]
        order = http.post("/v1/orders", json={"customer_id": customer["id"], "items": items}).json()
        return customer["id"], order["id"]


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    database_url = asyncio.run(_database())
    wrk_env = os.environ | {"BENCH_API_KEY": API_KEY, "BENCH_WRK_DIR": str(HERE / "wrk")}
    results: list[Result] = []
    print(f"{SECONDS} s per scenario, {CONNECTIONS} connections, server on CPU 0, wrk on CPU 1", flush=True)
    try:
        server = Server("bare", _env(database_url))
        results.append(measure("bare", "hello", "get.lua", "/bench/hello", wrk_env))
        server.stop()
        for mode, cache_ttl in (("off", "300"), ("on", "300"), ("off", "0"), ("on", "0")):
            server = Server(mode, _env(database_url, CACHE_TTL=cache_ttl))
            customer_id, order_id = seed()
            env = wrk_env | {"BENCH_CUSTOMER_ID": customer_id}
            if cache_ttl == "0":
                results.append(
                    measure(mode, "order read, uncached", "get.lua", f"/v1/orders/{order_id}", env)
                )
            else:
                results.append(measure(mode, "hello", "get.lua", "/bench/hello", env))
                results.append(measure(mode, "order read, cached", "get.lua", f"/v1/orders/{order_id}", env))
                results.append(measure(mode, "customer read", "get.lua", f"/v1/customers/{customer_id}", env))
                results.append(measure(mode, "signup", "signup.lua", "/v1/customers", env))
                results.append(measure(mode, "place order", "order.lua", "/v1/orders", env))
            server.stop()
    finally:
        asyncio.run(_drop(database_url))
    report(results)


def report(results: list[Result]) -> None:
    bare = next(r.rps for r in results if r.mode == "bare")
    by_key = {(r.mode, r.scenario): r for r in results}
    print("\nratios (throughput / bare FastAPI hello):")
    for r in results:
        print(f"  {r.mode:<5} {r.scenario:<22} {r.rps / bare:5.2f}")
    print("\ntelemetry on / off (same scenario):")
    for (mode, scenario), on in by_key.items():
        off = by_key.get(("off", scenario))
        if mode == "on" and off:
            print(f"  {scenario:<22} {on.rps / off.rps:5.2f}  (cost {1 - on.rps / off.rps:5.1%})")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    payload = {"seconds": SECONDS, "connections": CONNECTIONS, "results": [asdict(r) for r in results]}
    (out / "latest.json").write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
