"""Instructions per order read, counted: the served app driven in-process under cachegrind.

Time on a shared host drifts; an instruction count does not. Each count drives the app (as
`bench/serve.py MODE` builds it) through its ASGI interface for N₁ and then N₂ reads, with C reads at
a time, and divides the difference by N₂ - N₁, so start-up and the warm-up fall out. With C above the
pool's size, callers wait for a connection, as they do under `make bench`'s 64 connections.

    uv run --frozen python bench/instructions.py on|off|limit [C]     # C: 64 unless given

Needs valgrind (Debian package `valgrind`). `PYTHONPATH=<another src>` counts another version of the
package, how bench/README.md priced each part of the request.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import uvloop
from limit import limit_app  # bench/, first on the path
from run import API_KEY, create_database, drop_database, server_env
from serve import full_app
from starlette.types import ASGIApp, Message

from app.__main__ import load_settings
from app.settings import Settings

READS = (500, 2_500)
WARM_UP = 200


def main(mode: str, concurrency: int) -> None:
    url = asyncio.run(create_database())
    try:
        counts = [_count(mode, reads, concurrency, url) for reads in READS]
    finally:
        asyncio.run(drop_database(url))
    driven = [reads // concurrency * concurrency for reads in READS]  # what `read_order` sends
    per_read = (counts[1] - counts[0]) // (driven[1] - driven[0])
    print(f"{mode}: {per_read:,} instructions per order read, {concurrency} at a time")


def _count(mode: str, reads: int, concurrency: int, database_url: str) -> int:
    """The instructions of one process that drives `reads` order reads."""
    env = server_env(database_url, METRICS_PORT="0", PYTHONHASHSEED="0")  # counts repeat closely
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cachegrind.out"
        command = [sys.executable, __file__, "--drive", mode, str(reads), str(concurrency)]
        subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", f"--cachegrind-out-file={out}", *command],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
        return int(summary.split()[1])


async def drive(mode: str, reads: int, concurrency: int) -> None:
    """A customer and an order placed through the app, then `reads` reads of that order."""
    async with order_to_read(mode) as (served, path):
        await read_order(served, path, WARM_UP, concurrency)
        await read_order(served, path, reads, concurrency)


@asynccontextmanager
async def order_to_read(mode: str) -> AsyncIterator[tuple[ASGIApp, str]]:
    """The app as `bench/serve.py MODE` builds it, started, with a customer and an order placed
    through it: what is served, and the order's path."""
    settings = load_settings(Settings)
    app, served = (limit_app(settings),) * 2 if mode == "limit" else full_app(settings, mode == "on")
    async with app.router.lifespan_context(app):
        signup = {"email": f"{uuid.uuid4().hex}@example.com", "name": "Bench"}
        customer = await _call(served, "POST", "/v1/customers", signup)
        item = {"sku": "A-1", "quantity": 1, "unit_price_cents": 100}
        order = await _call(served, "POST", "/v1/orders", {"customer_id": customer["id"], "items": [item]})
        yield served, f"/v1/orders/{order['id']}"


async def read_order(app: ASGIApp, path: str, reads: int, concurrency: int) -> None:
    """`reads` reads of the order (rounded down to a multiple of `concurrency`), `concurrency` at a time."""

    async def reader(count: int) -> None:
        for _ in range(count):
            await _call(app, "GET", path)

    await asyncio.gather(*(reader(reads // concurrency) for _ in range(concurrency)))


async def _call(app: ASGIApp, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One request through the app's ASGI interface, as a server hands it over; its JSON body."""
    headers = [(b"host", b"127.0.0.1"), (b"x-api-key", API_KEY.encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    request = [{"type": "http.request", "body": orjson.dumps(body) if body else b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return request.pop() if request else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    if status >= 400:
        raise RuntimeError(f"{method} {path} answered {status}")
    return orjson.loads(b"".join(message.get("body", b"") for message in sent[1:]))


if __name__ == "__main__":
    if sys.argv[1] == "--drive":
        uvloop.run(drive(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
    else:
        main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64)
