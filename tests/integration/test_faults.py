"""Faults under traffic, against the real server process: Postgres stops (or is absent at start-up),
Redis stops, Redis hangs, the pool runs dry, a query gets stuck, and no secret leaks whatever fails.
Each promise is listed in docs/reliability.md next to the test that proves it.

These tests stop and start the machine's real Postgres and Redis (scripts/services.sh). Every fault
undoes itself in a `finally`, and `_services_come_back` runs `scripts/services.sh ensure` after every
test here as a safety net, so the rest of the session always finds both running. Run them alone with
`pytest tests/integration/test_faults.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.conftest import API_KEY, OLD_API_KEY
from tests.integration.faults import (
    PROBLEM_JSON,
    api,
    assert_problem,
    metric,
    new_customer,
    new_order,
    orders_by_key,
    postgres_stopped,
    redis_paused,
    redis_stopped,
    services,
    wait_for,
)
from tests.integration.server import ServerProcess, server_env

pytestmark = pytest.mark.faults  # `pytest -m faults` runs them alone; `-m "not faults"` skips them

StartServer = Callable[..., ServerProcess]

# The server's defaults (src/app/settings.py), which these tests hold it to.
HEALTH_TIMEOUT = 0.5
HEALTH_CACHE_SECONDS = 1.0
DB_POOL_TIMEOUT = 2.0
DB_CONNECT_TIMEOUT = 3.0
# No request may take longer than waiting for a pool slot and then for a connection.
REQUEST_BOUND = DB_POOL_TIMEOUT + DB_CONNECT_TIMEOUT
# Readiness notices a dead dependency within two probe intervals (cached result + a fresh probe).
NOTICE_BOUND = 2 * HEALTH_CACHE_SECONDS + HEALTH_TIMEOUT
RECOVERY_BOUND = 5.0  # seconds from "Postgres accepts connections" to the service serving again
# Room for a loaded CI machine on top of each bound; still far below the fault's own length.
SLACK = 1.0
PAUSE = 8.0  # how long Redis hangs: a request that waited for Redis would take this long


@pytest.fixture(autouse=True)
def _services_come_back() -> Iterator[None]:
    """Safety net: whatever a test did or however it failed, Postgres and Redis run afterwards."""
    yield
    services("ensure")


@pytest.fixture
def start_server(database_url: str, redis_prefix: str) -> Iterator[StartServer]:
    """Start `python -m app serve` with extra settings; stopped at the end of the test."""
    with ExitStack() as stack:

        def start(**env: str) -> ServerProcess:
            return stack.enter_context(ServerProcess(server_env(database_url, redis_prefix, **env)))

        yield start


@dataclass(frozen=True, slots=True)
class Call:
    kind: str
    started: float  # time.monotonic()
    elapsed: float
    status: int | str  # the HTTP status, or the transport error's name
    response: httpx.Response | None
    key: str | None = None


async def timed(kind: str, send: Awaitable[httpx.Response], key: str | None = None) -> Call:
    started = time.monotonic()
    try:
        response = await send
    except httpx.HTTPError as error:
        return Call(kind, started, time.monotonic() - started, type(error).__name__, None, key)
    return Call(kind, started, time.monotonic() - started, response.status_code, response, key)


class Traffic:
    """Keeps requests flowing, each kind in its own loop, and records every call."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, kind: str, send: Callable[[str], Awaitable[httpx.Response]], pause: float = 0.02) -> None:
        async def loop() -> None:
            while not self._stop.is_set():
                key = f"{kind}-{uuid.uuid4()}"
                self.calls.append(await timed(kind, send(key), key))
                await asyncio.sleep(pause)

        self._tasks.append(asyncio.create_task(loop()))

    async def __aenter__(self) -> Traffic:
        return self

    async def __aexit__(self, *_: object) -> None:
        """Traffic stops with the block, even when the test fails inside it."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def of(self, kind: str, after: float = 0.0) -> list[Call]:
        return [call for call in self.calls if call.kind == kind and call.started >= after]


async def test_postgres_outage_fails_fast_keeps_every_acknowledged_order_and_heals(
    start_server: StartServer, database_url: str
) -> None:
    server = await asyncio.to_thread(start_server)
    async with api(server.url, timeout=REQUEST_BOUND + 5) as client:
        customer_id = await new_customer(client)

        async with Traffic() as traffic:
            for name in ("write-1", "write-2"):
                traffic.add(name, lambda key: new_order(client, customer_id, key))
            traffic.add("read", lambda _: client.get(f"/v1/customers/{customer_id}"))
            # Every order read goes to Postgres (404 for an unknown id, or 503): no process keeps orders.
            traffic.add("order-read", lambda _: client.get(f"/v1/orders/{uuid.uuid4()}"))
            traffic.add("ready", lambda _: client.get("/health/ready"), pause=0.1)
            await asyncio.sleep(0.5)

            async with postgres_stopped():
                stopped_at = time.monotonic()
                await asyncio.sleep(2.0)  # traffic keeps flowing against a dead database
            restarted_at = time.monotonic()

            async def serving_again() -> bool:
                writes = [c for c in traffic.of("write-1", restarted_at) if c.status == 201]
                ready = [c for c in traffic.of("ready", restarted_at) if c.status == 200]
                order_reads = [c for c in traffic.of("order-read", restarted_at) if c.status == 404]
                return bool(writes and ready and order_reads)

            recovered_at = await wait_for(serving_again, within=15)
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.2)  # the last responses are sent just before their connection is released
        leaked = await metric(server.metrics_url, "db_client_connections_usage", state="used")

        # Fail fast and well: 503 problem+json with Retry-After, never a 500, never a hang.
        writes = traffic.of("write-1") + traffic.of("write-2")
        reads = traffic.of("read")
        order_reads = traffic.of("order-read")
        assert {c.status for c in writes} <= {201, 503}, _errors(server)
        assert {c.status for c in reads} <= {200, 503}, _errors(server)
        assert {c.status for c in order_reads} <= {404, 503}, _errors(server)
        assert any(c.status == 503 for c in order_reads), "no order read saw the outage"
        for call in writes + reads + order_reads:
            if call.status == 503:
                assert call.response is not None
                assert_problem(call.response, 503)
        assert any(c.status == 503 for c in writes), "no write saw the outage: the fault did not happen"
        assert any(c.status == 503 for c in reads), "no read saw the outage: the fault did not happen"
        slowest = max(c.elapsed for c in traffic.calls)
        assert slowest < REQUEST_BOUND, f"a request took {slowest:.2f} s during the outage"

        # Readiness turns 503 within two probe intervals, and the service heals by itself.
        ready = traffic.of("ready")
        assert {c.status for c in ready} <= {200, 503}
        noticed = min(c.started + c.elapsed for c in ready if c.status == 503)
        assert noticed - stopped_at < NOTICE_BOUND, f"readiness noticed after {noticed - stopped_at:.2f} s"
        assert max(c.elapsed for c in ready) < HEALTH_TIMEOUT + SLACK, "readiness outlived its own timeout"
        assert recovered_at - restarted_at < RECOVERY_BOUND, "no recovery without a restart"
        assert leaked == 0, f"{leaked} pool connections stayed checked out after the outage"

        # Every 201 is in the database; every 503'd write, retried with its key, lands exactly once.
        acknowledged = {
            c.key: c.response.json()["id"] for c in writes if c.status == 201 and c.response and c.key
        }
        refused = [c.key for c in writes if c.status == 503 and c.key][:20]
        for key in refused:
            retried = await new_order(client, customer_id, key)
            assert retried.status_code == 201, retried.text
    stored = await orders_by_key(database_url, [*acknowledged, *refused])
    lost = {key: order_id for key, order_id in acknowledged.items() if stored[key] != [order_id]}
    assert not lost, f"acknowledged orders missing from the database: {lost}"
    assert all(len(stored[key]) == 1 for key in refused), "a retry after the outage placed a duplicate"


async def test_redis_outage_degrades_to_warn_with_no_5xx(
    start_server: StartServer, database_url: str
) -> None:
    server = await asyncio.to_thread(start_server)
    async with api(server.url) as client:
        customer_id = await new_customer(client)
        order = (await new_order(client, customer_id)).json()
        errors_before = await metric(server.metrics_url, "redis_client_errors_total")
        responses: list[httpx.Response] = []

        async with redis_stopped():
            stopped_at = time.monotonic()

            async def warns() -> bool:
                ready = await client.get("/health/ready")
                responses.append(ready)
                return bool(ready.json()["status"] == "warn")

            assert await wait_for(warns, within=5) - stopped_at < NOTICE_BOUND
            # Reads never needed Redis, idempotent writes stay exactly-once, sign-ups work.
            key = f"redis-down-{uuid.uuid4()}"
            for _ in range(3):
                responses += [
                    await client.get(f"/v1/orders/{order['id']}"),
                    await client.get(f"/v1/customers/{customer_id}"),
                    await new_order(client, customer_id, key),
                ]
            responses.append(
                await client.post("/v1/customers", json={"email": f"{key}@example.com", "name": "R"})
            )
            health = await client.get("/health")
            errors_during = await metric(server.metrics_url, "redis_client_errors_total")

        async def passes() -> bool:
            return bool((await client.get("/health/ready")).json()["status"] == "pass")

        await wait_for(passes, within=5)

    assert [r.status_code for r in responses if r.status_code >= 500] == []
    assert all(r.status_code == 200 for r in responses if r.url.path == "/health/ready")
    reads = [r for r in responses if r.url.path.startswith("/v1/orders/")]
    assert {r.status_code for r in reads} == {200}
    assert all(r.json() == order for r in reads)
    placed = [r for r in responses if r.url.path == "/v1/orders"]
    assert {r.status_code for r in placed} == {201}
    assert len({r.json()["id"] for r in placed}) == 1
    assert [r.headers.get("idempotent-replayed") for r in placed] == [None, "true", "true"]
    assert (await orders_by_key(database_url, [key]))[key] == [placed[0].json()["id"]]
    assert health.status_code == 200
    assert (health.json()["database"], health.json()["redis"]) == ("healthy", "unhealthy")
    assert errors_during > errors_before, "redis_client_errors_total did not count the failures"


async def test_a_hanging_redis_costs_at_most_its_timeout(start_server: StartServer) -> None:
    """Redis accepts connections but never answers: each Redis call gives up after REDIS_TIMEOUT.

    The timeout is long enough that a read which made a Redis call (at least one timeout) stands
    apart from a read slowed by a loaded machine."""
    redis_timeout = 0.75
    server = await asyncio.to_thread(start_server, REDIS_TIMEOUT=str(redis_timeout), HEALTH_CACHE_SECONDS="0")
    async with api(server.url) as client:
        customer_id = await new_customer(client)
        order = (await new_order(client, customer_id)).json()
        assert (await client.get(f"/v1/orders/{order['id']}")).status_code == 200
        keys = [f"hang-{uuid.uuid4()}" for _ in range(3)]

        async with redis_paused(int(PAUSE * 1000)):
            paused_at = time.monotonic()
            slow = [
                *(
                    asyncio.create_task(timed("read", client.get(f"/v1/orders/{order['id']}")))
                    for _ in range(10)
                ),
                *(asyncio.create_task(timed("write", new_order(client, customer_id, key))) for key in keys),
                asyncio.create_task(timed("ready", client.get("/health/ready"))),
            ]
            live: list[Call] = []
            while not all(task.done() for task in slow):  # the event loop keeps serving meanwhile
                live.append(await timed("live", client.get("/health/live")))
            calls = [task.result() for task in slow]
            finished_after = time.monotonic() - paused_at

        assert finished_after < PAUSE / 2, (
            "requests waited for Redis instead of giving up after REDIS_TIMEOUT"
        )
        by_kind = {kind: [c for c in calls if c.kind == kind] for kind in ("read", "write", "ready")}
        # A read makes no Redis call; a write makes up to three, each cut at REDIS_TIMEOUT.
        for call in by_kind["read"]:
            assert call.status == 200
            assert call.response is not None
            assert call.response.json() == order
            assert call.elapsed < redis_timeout, f"a read waited for Redis: {call.elapsed:.2f} s"
        for call in by_kind["write"]:
            assert call.status == 201, call
            assert call.elapsed < 3 * redis_timeout + SLACK, f"write took {call.elapsed:.2f} s"
        (ready,) = by_kind["ready"]
        assert ready.status == 200
        assert ready.response is not None
        assert ready.response.json()["status"] == "warn"
        assert ready.elapsed < HEALTH_TIMEOUT + SLACK, f"readiness took {ready.elapsed:.2f} s"
        assert len(live) >= 3, "liveness was not served while Redis hung"
        assert {c.status for c in live} == {200}
        assert max(c.elapsed for c in live) < 2 * redis_timeout, "the event loop was blocked while Redis hung"

        # After the pause no connection is left out of step: every answer belongs to its request.
        await asyncio.sleep(0.1)
        for _ in range(5):
            assert (await client.get(f"/v1/orders/{order['id']}")).json() == order
        for key, call in zip(keys, by_kind["write"], strict=True):
            replay = await new_order(client, customer_id, key)
            assert call.response is not None
            assert replay.json()["id"] == call.response.json()["id"]


async def test_an_exhausted_pool_answers_503_after_the_pool_timeout_and_recovers(
    start_server: StartServer, database_url: str
) -> None:
    pool_timeout = 0.2
    server = await asyncio.to_thread(
        start_server,
        DB_POOL_SIZE="1",
        DB_POOL_TIMEOUT=str(pool_timeout),
    )
    async with api(server.url) as client:
        customer_id = await new_customer(client)
        timeouts_before = await metric(server.metrics_url, "db_client_connections_timeouts_total")

        # Hold the pool's only connection: a lock makes the first request's query wait on Postgres.
        locker = await asyncpg.connect(database_url)
        try:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            holder = asyncio.create_task(timed("holder", client.get(f"/v1/customers/{customer_id}")))
            await asyncio.sleep(0.3)
            burst = await asyncio.gather(
                *(timed("burst", client.get(f"/v1/customers/{customer_id}")) for _ in range(20))
            )
            live = await timed("live", client.get("/health/live"))
            ready = await timed("ready", client.get("/health/ready"))
            await transaction.rollback()
        finally:
            await locker.close()
        held = await holder
        after = [await client.get(f"/v1/customers/{customer_id}") for _ in range(10)]
        timeouts = await metric(server.metrics_url, "db_client_connections_timeouts_total") - timeouts_before

    assert held.status == 200, "the request holding the connection should finish once the lock goes"
    for call in burst:
        assert call.response is not None
        assert_problem(call.response, 503)
        assert pool_timeout * 0.9 <= call.elapsed < pool_timeout + 1.0, f"waited {call.elapsed:.2f} s"
    assert live.status == 200
    assert live.elapsed < 0.2
    # A full pool is busy, not down: readiness stays 200, so a load spike does not take every task
    # out of the load balancer at once.
    assert ready.status == 200, "readiness failed because the pool was busy"
    assert ready.elapsed < HEALTH_TIMEOUT
    assert [r.status_code for r in after] == [200] * 10, "the service did not recover after the burst"
    assert timeouts == len(burst), "db_client_connections_timeouts_total must count each pool timeout"


async def test_a_stuck_query_is_cancelled_at_the_statement_timeout(
    start_server: StartServer, database_url: str
) -> None:
    statement_timeout = 0.5
    server = await asyncio.to_thread(start_server, DB_STATEMENT_TIMEOUT=str(statement_timeout))
    async with api(server.url) as client:
        customer_id = await new_customer(client)
        locker = await asyncpg.connect(database_url)
        try:
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
            stuck = await timed("stuck", client.get(f"/v1/customers/{customer_id}"))
            await transaction.rollback()
        finally:
            await locker.close()
        after = await client.get(f"/v1/customers/{customer_id}")

    assert stuck.response is not None
    assert_problem(stuck.response, 503)
    assert statement_timeout * 0.9 <= stuck.elapsed < statement_timeout + SLACK, f"took {stuck.elapsed:.2f} s"
    assert after.status_code == 200, "the cancelled query's connection did not go back to work"


async def test_the_service_starts_without_postgres_and_becomes_ready_when_it_comes(
    start_server: StartServer,
) -> None:
    async with postgres_stopped():
        server = await asyncio.to_thread(start_server)  # live at once: nothing waits for Postgres
        async with api(server.url) as client:
            ready = await client.get("/health/ready")
            order = await client.get(f"/v1/orders/{uuid.uuid4()}")
    async with api(server.url) as client:
        await wait_for(lambda: _ready(client), within=RECOVERY_BOUND)  # fails the test if it takes longer
        assert (await client.get(f"/v1/orders/{uuid.uuid4()}")).status_code == 404
    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
    assert_problem(order, 503)


DB_PASSWORD = "pg-secret-5b7e0c1d9a"  # local Postgres trusts loopback, so any password connects
# Redis here has no password set, and Redis 6+ then accepts any password: the client authenticates with it.
REDIS_PASSWORD = "redis-secret-3f6a8e2c4b"


async def test_no_secret_leaks_whatever_fails(start_server: StartServer, database_url: str) -> None:
    dsn = database_url.replace("postgresql://postgres@", f"postgresql://postgres:{DB_PASSWORD}@")
    assert DB_PASSWORD in dsn
    server = await asyncio.to_thread(
        start_server,
        DATABASE_URL=dsn,
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        LOG_LEVEL="DEBUG",
        # Spans go to stdout too, so their attributes are checked along with the logs.
        OTEL_TRACES_EXPORTER="console",
        OTEL_TRACES_SAMPLER="always_on",
    )
    responses: list[httpx.Response] = []
    async with api(server.url) as client:
        customer_id = await new_customer(client)
        responses.append(await new_order(client, customer_id, "secret-test"))
        for wrong in ("wrong-" + API_KEY, API_KEY + "x", API_KEY[:-1], OLD_API_KEY.upper(), ""):
            responses.append(await client.get("/v1/orders/x", headers={"X-API-Key": wrong}))
        responses += [
            await client.post("/v1/customers", content=b"{bad", headers={"Content-Type": "application/json"}),
            await client.post("/v1/customers", content=b"x", headers={"Content-Type": "text/plain"}),
            await client.post(
                "/v1/orders", content=b"x" * 100_000, headers={"Content-Type": "application/json"}
            ),
            await client.get("/v1/customers/not-a-uuid"),
            await client.get("/nowhere"),
            await client.get("/health/ready"),
        ]
        async with postgres_stopped():
            responses += [
                await client.get(f"/v1/customers/{customer_id}"),
                await new_order(client, customer_id),
                await client.get("/health"),
                await client.get("/health/ready"),
            ]
        await wait_for(lambda: _ready(client), within=15)
        async with redis_stopped():
            responses += [
                await client.get(f"/v1/customers/{customer_id}"),
                await new_order(client, customer_id, "secret-test"),
                await client.get("/health"),
            ]
        responses.append(await client.get("/health"))
        metrics_text = (await client.get(server.metrics_url)).text
    assert await asyncio.to_thread(server.terminate) == 0  # shutdown logs are checked too
    output = server.output()

    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == 5, statuses
    assert {413, 415, 422, 503} <= set(statuses), statuses
    events = {_event(line) for line in output.splitlines()}
    assert {"database unavailable", "redis unavailable, serving without cache"} <= events, (
        "the failures this test drives did not happen"
    )
    assert "SpanKind.SERVER" in output, "no span reached the output: their attributes went unchecked"
    for name, secret in {
        "database password": DB_PASSWORD,
        "Redis password": REDIS_PASSWORD,
        "API key": API_KEY,
        "old API key": OLD_API_KEY,
    }.items():
        assert secret not in output, f"the {name} is in the server's output"
        assert secret not in metrics_text, f"the {name} is in /metrics"
        for response in responses:
            text = response.text + str(response.headers)
            assert secret not in text, f"the {name} is in the response to {response.request.url.path}"
    assert all(
        r.headers["content-type"] == PROBLEM_JSON
        for r in responses
        if r.status_code >= 400 and not r.url.path.startswith("/health")
    )


def _errors(server: ServerProcess) -> str:
    """The server's error log lines, with their tracebacks: the message of a failed assertion."""
    lines = server.output().splitlines()
    return "\n".join(line for line in lines if '"level":"error"' in line) or "no error logged"


def _event(line: str) -> str | None:
    """The `event` of a JSON log line; None for anything else (the console exporter's spans)."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    return parsed.get("event") if isinstance(parsed, dict) else None


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/health/ready")).status_code == 200
