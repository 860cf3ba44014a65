"""Which HTTP server: uvicorn's httptools protocol as it ships, the same with the project's bounds (as
`python -m app serve` runs it), or granian with its own bounds. docs/adr/0010-bounded-uvicorn.md reads
the numbers.

    uv run --frozen --with granian==2.8.9 python bench/server_choice.py         # throughput and CPU
    uv run --frozen --with granian==2.8.9 python bench/server_choice.py limits  # hostile clients
    uv run --frozen python bench/server_choice.py header-fields  # is MAX_HEADER_COUNT needed?

granian is not a dependency of the project: `--with` lays it beside the locked environment for this
run only, and nothing here imports it (the servers are child processes).

Throughput: the servers take turns in alternating rounds, as in bench/run.py (whose server process,
wrk invocation, CPU pinning and best-of-rounds logic this reuses), on two apps: bare FastAPI with one
route (`bench/serve.py bare`), and the app wired as `python -m app serve` wires it, telemetry on
(`bench/serve.py on`), on its trivial route and the order read. Every ratio is over stock
uvicorn on the same app and scenario, in the same round. `BENCH_SECONDS` (6) and `BENCH_ROUNDS` (3).

Every server runs one process's worth of serving on CPU 0: uvicorn in the process itself, granian in
one worker process (`--workers 1`) with one Rust runtime thread; CPU is counted over the process and
its children. Under granian the app is built by `granian_app`, the same builders, and the collector is
set by the same `settle_gc` before serving. The two uvicorn runs differ only in the protocol class;
both keep the service's drain wrapper (idle until a signal) and uvicorn's proxy-header handling,
which granian does not have.

`limits` serves the app under each server with small bounds and reports what one client gets, for
every hostile client of docs/reliability.md: the request head (too large, too many fields, endless),
read times (silent, trickled, a keep-alive connection sending one byte or left idle, a body that
stalls), pipelining (4 MB never read, with the server's peak memory; hang-ups while it answers), the
connection cap, trailers, the protocol's rules (a control byte, Host, trailing whitespace, a 70 KB
target), the app's own (UTF-16/32 JSON, long unknown names, a zero traceparent, the metrics port), and
SIGTERM. The server's output goes to bench/results/server_choice.log, which the probes read.

`header-fields` measures the server's CPU per request for one head size split into 1 to 6,000 fields.

The ports are this script's own, not bench/run.py's, so it can run beside `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import asdict
from pathlib import Path
from statistics import median

import httpx
import run
from fastapi import FastAPI
from run import (
    API_KEY,
    HERE,
    Result,
    Server,
    best,
    cpu_seconds,
    create_database,
    drop_database,
    measure,
    require_wrk,
    seed,
    server_env,
    within_rounds,
    wrk_settings,
)
from serve import bare_app, full_app
from starlette.types import ASGIApp

from app.__main__ import load_settings
from app.server import create_server, settle_gc
from app.settings import Settings

# Ports of its own, not bench/run.py's, so this runs beside `make bench` on a shared host.
PORT = run.PORT = 18_180
METRICS_PORT = run.METRICS_PORT = 19_180
SERVERS = ("uvicorn", "uvicorn-bounded", "granian")
SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WAIT = 10.0  # the longest a probe waits for an answer; far beyond every bound under test


# The servers (child processes)


def build(kind: str) -> tuple[FastAPI, ASGIApp]:
    """`bare`: FastAPI with one route; `app`: the app as `python -m app serve` wires it, telemetry on."""
    return full_app(load_settings(Settings), telemetry=True) if kind == "app" else bare_app("bare")


def serve_uvicorn(server: str) -> None:
    settings = load_settings(Settings)
    app, served = build(os.environ["BENCH_APP"])
    running = create_server(settings, app, served)
    if server == "uvicorn":
        running.config.http = "httptools"  # uvicorn's own protocol class: the same server, unbounded
    running.run()


def granian_app() -> ASGIApp:
    """granian's factory (`--factory`), called in its worker process."""
    _, served = build(os.environ["BENCH_APP"])
    settle_gc()
    return served


def _setting(env: dict[str, str], name: str) -> float:
    """The value the app's Settings would read from `env`: the bounded uvicorn's own."""
    return float(env.get(name.upper(), Settings.model_fields[name].default))


def command(server: str, env: dict[str, str]) -> list[str]:
    if server != "granian":
        return [sys.executable, __file__, "serve", server]
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--working-dir", str(HERE),
        "--host", "127.0.0.1", "--port", str(PORT), "--workers", "1", "--runtime-threads", "1",
        "--loop", "uvloop", "--http", "1", "--no-ws", "--log-level", "warning",
        "--http1-buffer-size", f"{_setting(env, 'max_head_bytes'):.0f}",
        "--http1-header-read-timeout", f"{_setting(env, 'head_read_timeout') * 1000:.0f}",
        "--backpressure", f"{_setting(env, 'max_client_connections'):.0f}",
        "server_choice:granian_app",
    ]  # fmt: skip


OUTPUT = HERE / "results" / "server_choice.log"  # the server's output during `limits`


def start(server: str, database_url: str, app: str, *, logged: bool = False, **extra: str) -> Server:
    env = server_env(database_url, BENCH_APP=app, **extra)
    serving = command(server, env)
    if logged:  # bench/run.py's Server discards the output; the hostile-client probes read it
        OUTPUT.parent.mkdir(exist_ok=True)
        env["PYTHONUNBUFFERED"] = "1"  # each line in the file as it is logged
        serving = ["sh", "-c", 'exec "$@" >>"$0" 2>&1', str(OUTPUT), *serving]
    return Server(server, env, serving)


# Throughput


def _read(running: Server, scenario: str, path: str, wrk_env: dict[str, str]) -> Result:
    return measure(running, scenario, "get.lua", path, wrk_env, seconds=SECONDS)


def one_round(number: int, database_url: str, wrk_env: dict[str, str]) -> list[Result]:
    turn = number % len(SERVERS)  # each server takes each place in the order, round by round
    results: list[Result] = []
    for server in SERVERS[turn:] + SERVERS[:turn]:
        with start(server, database_url, "bare") as running:
            results.append(_read(running, "bare: hello", "/bench/hello", wrk_env))
        with start(server, database_url, "app") as running:
            _, order_id = seed()
            paths = {"hello": "/bench/hello", "order read": f"/v1/orders/{order_id}"}
            for scenario, path in paths.items():
                results.append(_read(running, f"app: {scenario}", path, wrk_env))
    return results


def report(rounds: list[list[Result]]) -> None:
    results = best(rounds)
    ratios = within_rounds(rounds, yardstick=lambda r: ("uvicorn", r.scenario))
    print(f"\nbest of {len(rounds)} rounds; throughput over stock uvicorn's on the same scenario: best "
          f"round over its best round, and the median of each round's own ratio")  # fmt: skip
    for server, scenario in sorted(results, key=lambda key: (key[1], SERVERS.index(key[0]))):
        r = results[(server, scenario)]
        stock = results[("uvicorn", scenario)]
        print(f"  {scenario:<24} {server:<16} {r.rps:>7,.0f} req/s  {r.rps / stock.rps:5.2f}  "
              f"median {median(ratios[(server, scenario)]):5.2f}  p99 {r.p99_ms:6.1f} ms  "
              f"cpu {r.cpu_us:5.0f} µs/req ({r.cpu_us / stock.cpu_us:4.2f})  errors {r.errors}")  # fmt: skip
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    payload = {"seconds": SECONDS, "rounds": [[asdict(r) for r in one] for one in rounds]}
    (out / "server_choice.json").write_text(json.dumps(payload, indent=2))


def main() -> None:
    require_wrk()
    database_url = asyncio.run(create_database())
    wrk_env = wrk_settings()
    rounds: list[list[Result]] = []
    print(f"{ROUNDS} rounds, {SECONDS} s per server and scenario, server on CPU 0, wrk on CPU 1", flush=True)
    try:
        for number in range(1, ROUNDS + 1):
            print(f"round {number}", flush=True)
            rounds.append(one_round(number, database_url, wrk_env))
    finally:
        asyncio.run(drop_database(database_url))
    report(rounds)


# Hostile clients

LIMITS = {
    "MAX_HEAD_BYTES": "16384",
    "HEAD_READ_TIMEOUT": "2",
    "BODY_READ_TIMEOUT": "2",
    "MAX_CLIENT_CONNECTIONS": "16",
}


@contextmanager
def _connection() -> Iterator[socket.socket]:
    with closing(socket.create_connection(("127.0.0.1", PORT), timeout=WAIT)) as sock:
        yield sock


def _answer(sock: socket.socket) -> str:
    """The status line's code, or how the connection ended without one."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return "closed, no answer" if not data else f"closed mid-answer: {data[:40]!r}"
            data += chunk
    except ConnectionResetError:
        return "reset, no answer"
    except TimeoutError:
        return f"no answer within {sock.gettimeout() or WAIT:g} s"
    return data.split(b"\r\n", 1)[0].split(b" ", 2)[1].decode()


def _get(*headers: str, path: str = "/bench/hello") -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: bench", *headers, "", ""]).encode()


def _exchange(request: bytes) -> str:
    with _connection() as sock:
        with suppress(OSError):  # refused while sending: the answer, if any, is still there to read
            sock.sendall(request)
        return _answer(sock)


def big_head() -> str:
    return _exchange(_get("X-Big: " + "a" * 2 * int(LIMITS["MAX_HEAD_BYTES"])))


def many_fields() -> str:
    return _exchange(_get(*(f"X-Field-{number}: 1" for number in range(200))))


def silent() -> str:
    with _connection() as sock:
        began = time.monotonic()
        answer = _answer(sock)
        waited = time.monotonic() - began
    return answer if answer.startswith("no answer") else f"{answer} after {waited:.1f} s"


def idle_keep_alive() -> str:
    """A second request on a keep-alive connection left idle past HEAD_READ_TIMEOUT."""
    with _connection() as sock:
        sock.sendall(_get())
        first = _answer(sock)
        time.sleep(float(LIMITS["HEAD_READ_TIMEOUT"]) * 1.5)
        with suppress(OSError):
            sock.sendall(_get())
        return f"{first}, then {_answer(sock)}"


def endless_header() -> str:
    """One header line that never ends (up to 4 MB): whether the server stops reading it."""
    sent, limit = 0, 4 * 1024 * 1024
    with _connection() as sock:
        sock.sendall(b"GET /bench/hello HTTP/1.1\r\nHost: bench\r\nX-Endless: ")
        try:
            while sent < limit:
                sock.sendall(b"a" * 16384)
                sent += 16384
        except OSError:
            return f"{_answer(sock)}, closed"
    return f"still reading after {limit // (1024 * 1024)} MB"


def over_the_cap() -> str:
    """A request on the connection after MAX_CLIENT_CONNECTIONS silent ones: its answer, and when."""
    with ExitStack() as held:
        for _ in range(int(LIMITS["MAX_CLIENT_CONNECTIONS"])):
            held.enter_context(_connection())
        time.sleep(0.2)  # accepted and counted before the next one arrives
        with _connection() as sock:
            sock.sendall(_get())
            began = time.monotonic()
            answer = _answer(sock)
            waited = time.monotonic() - began
    _serving_again()
    return f"{answer} after {waited:.1f} s"


def _serving_again() -> None:
    """Waits (a bounded loop) until the server has noticed the closed connections and serves again."""
    for _ in range(100):
        if _exchange(_get()) == "200":
            return
        time.sleep(0.1)
    raise RuntimeError("the server did not serve again after the connections closed")


def trailer_key() -> str:
    """An API key sent only in a chunked body's trailer: 401 means the trailer was not a header."""
    body = json.dumps({"email": f"trailer-{time.monotonic_ns()}@example.com", "name": "T"}).encode()
    head = "POST /v1/customers HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    framed = f"Transfer-Encoding: chunked\r\n\r\n{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"
    return _exchange(head.encode() + framed + f"X-API-Key: {API_KEY}\r\n\r\n".encode())


def trickling_head() -> str:
    """One header line every 0.2 s, for up to 10 s: whether the server stops waiting for the head."""
    with _connection() as sock:
        sock.sendall(b"GET /bench/hello HTTP/1.1\r\nHost: bench\r\n")
        began = time.monotonic()
        try:
            for number in range(int(WAIT / 0.2)):
                sock.sendall(f"X-Slow-{number}: 1\r\n".encode())
                time.sleep(0.2)
        except OSError:
            return f"{_answer(sock)} after {time.monotonic() - began:.1f} s"
    return f"still open after {WAIT:g} s"


def keep_alive_one_byte() -> str:
    """A keep-alive connection that starts its second request with one byte, then nothing."""
    with _connection() as sock:
        sock.sendall(_get())
        first = _answer(sock)
        sock.sendall(b"G")
        began = time.monotonic()
        second = _answer(sock)
    return f"{first}, then {second} after {time.monotonic() - began:.1f} s"


def control_byte() -> str:
    return _exchange(b"GET /bench/hello HTTP/1.1\r\nHost: bench\r\nX-Bad: a\x01b\r\n\r\n")


def _rss(pid: int) -> int:
    """Resident bytes of a process and its descendants (granian serves from a child)."""
    proc = Path(f"/proc/{pid}")
    try:
        status = (proc / "status").read_text()
        children = [
            int(c) for task in (proc / "task").iterdir() for c in (task / "children").read_text().split()
        ]
    except FileNotFoundError:
        return 0
    kilobytes = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kilobytes * 1024 + sum(map(_rss, children))


def _probe_time() -> str:
    """How long another client waits for /health/live."""
    began = time.monotonic()
    try:
        status = httpx.get(f"http://127.0.0.1:{PORT}/health/live", timeout=WAIT).status_code
    except httpx.TransportError as error:
        return type(error).__name__
    return f"{status} in {(time.monotonic() - began) * 1000:.0f} ms"


def pipelined_flood(running: Server) -> str:
    """4 MB of pipelined GET /health/live on one connection, answers never read, for 4 s: the most the
    server's memory grew meanwhile, how long another client waited, and whether the server closed it."""
    pid = running.process.pid
    before = peak = _rss(pid)
    request = _get(path="/health/live")
    flood = memoryview(request * (4 * 1024 * 1024 // len(request)))
    sent, refused = 0, False
    with _connection() as sock:
        sock.settimeout(0.05)
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            if sent < len(flood) and not refused:
                try:
                    sent += sock.send(flood[sent : sent + 65536])
                except TimeoutError:
                    pass
                except OSError:
                    refused = True
            else:
                time.sleep(0.05)
            peak = max(peak, _rss(pid))
        other = _probe_time()
        closed = refused or _closed_within(sock, 1.0)
    alive = "" if running.process.poll() is None else f"; server exited ({running.process.returncode})"
    held = "closed by the server" if closed else "still open"
    grown = (peak - before) / 1024 / 1024
    return f"RSS {grown:+.0f} MB at most, {sent // 1024} KB taken, {held}; another client: {other}{alive}"


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (answers read and dropped)."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def _customer_post(body: bytes, content_length: int | None = None) -> bytes:
    length = len(body) if content_length is None else content_length
    head = ["POST /v1/customers HTTP/1.1", "Host: bench", f"X-API-Key: {API_KEY}"]
    head += ["Content-Type: application/json", f"Content-Length: {length}", "", ""]
    return "\r\n".join(head).encode() + body


def stalled_body() -> str:
    """A complete head with Content-Length: 100, one byte of body, then silence."""
    with _connection() as sock:
        sock.sendall(_customer_post(b"{", content_length=100))
        began = time.monotonic()
        answer = _answer(sock)
    return answer if answer.startswith("no answer") else f"{answer} after {time.monotonic() - began:.1f} s"


def _log_lines(since: int) -> list[dict[str, object]]:
    lines = OUTPUT.read_bytes()[since:].decode(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def hang_up() -> str:
    """200 pipelined order reads, then a hang-up 50 ms later, three times: the lines it logs."""
    since = OUTPUT.stat().st_size
    for _ in range(3):
        with _connection() as sock:
            sock.sendall(_get(f"X-API-Key: {API_KEY}", path=f"/v1/orders/{uuid.uuid4()}") * 200)
            time.sleep(0.05)
    time.sleep(1.0)
    lines = _log_lines(since)
    errors = [line for line in lines if line.get("level") in {"error", "critical"}]
    raw = OUTPUT.read_bytes()[since:].count(b"Traceback")
    return f"{len(errors)} error lines, {raw} raw tracebacks, {len(lines) - len(errors)} other lines"


def utf16_order() -> str:
    body = json.dumps({"email": f"utf16-{uuid.uuid4().hex[:8]}@example.com", "name": "U"})
    return " / ".join(_exchange(_customer_post(body.encode(c))) for c in ("utf-16", "utf-16-be", "utf-32"))


def long_unknown_names() -> str:
    """20 unknown fields with 2,900-character names: the size of the answer."""
    body = json.dumps({f"{n:02d}{'n' * 2898}": 1 for n in range(20)}).encode()
    response = httpx.post(
        f"http://127.0.0.1:{PORT}/v1/customers", content=body, timeout=WAIT,
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )  # fmt: skip
    return f"{response.status_code}, {len(body) // 1024} KB in, {len(response.content) / 1024:.1f} KB out"


def zero_traceparent() -> str:
    """traceparent with an all-zero trace-id, not sampled: whether the access line adopts it."""
    since = OUTPUT.stat().st_size
    request_id = f"zero-{uuid.uuid4().hex[:8]}"
    headers = {"traceparent": f"00-{'0' * 32}-b7ad6b7169203331-00", "X-Request-ID": request_id}
    httpx.get(f"http://127.0.0.1:{PORT}/bench/hello", headers=headers, timeout=WAIT)
    time.sleep(0.3)
    logged = [line for line in _log_lines(since) if line.get("request_id") == request_id]
    return "adopted" if logged and logged[0].get("trace_id") == "0" * 32 else "ignored"


def key_with_trailing_space() -> str:
    return " / ".join(
        _exchange(_get(f"X-API-Key: {API_KEY}{pad}", path=f"/v1/orders/{uuid.uuid4()}"))
        for pad in ("  ", "\t")
    )


def host_rules() -> str:
    missing = _exchange(b"GET /bench/hello HTTP/1.1\r\n\r\n")
    twice = _exchange(b"GET /bench/hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    return f"none: {missing}, two: {twice}"


def long_target() -> str:
    return _exchange(f"GET /bench/hello?{'q' * 70 * 1024} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())


def silent_metrics_connection() -> str:
    with closing(socket.create_connection(("127.0.0.1", METRICS_PORT), timeout=WAIT)) as sock:
        began = time.monotonic()
        closed = _closed_within(sock, 15.0)
    return f"closed after {time.monotonic() - began:.1f} s" if closed else "open past 15 s"


def sigterm(running: Server) -> str:
    """Readiness around SIGTERM: each status seen, from when (seconds from the signal)."""
    seen: list[tuple[float, str]] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=1.0) as http:
            while not done.is_set():
                try:
                    status = str(http.get("/health/ready", headers={"Connection": "close"}).status_code)
                except httpx.TransportError as error:
                    status = type(error).__name__
                if not seen or seen[-1][1] != status:
                    seen.append((time.monotonic(), status))
                time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    signalled = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    code = running.process.wait(timeout=30)
    done.set()
    poller.join()
    steps = ", ".join(f"{status} at {at - signalled:+.1f} s" for at, status in seen)
    return f"{steps}; exit {code}"


PROBES: dict[str, Callable[[], str]] = {
    "head over MAX_HEAD_BYTES": big_head,
    "200 header fields": many_fields,
    "silent connection": silent,
    "head trickled, a line every 0.2 s": trickling_head,
    "keep-alive connection, then one byte": keep_alive_one_byte,
    "idle keep-alive, past the head timeout": idle_keep_alive,
    "endless header line": endless_header,
    "a control byte in a header": control_byte,
    "request over the connection cap": over_the_cap,
    "API key only in a trailer": trailer_key,
    "body stalls after one byte": stalled_body,
    "hang-up mid-pipeline (x3)": hang_up,
    "order in UTF-16 / UTF-16-BE / UTF-32": utf16_order,
    "20 unknown 2,900-character names": long_unknown_names,
    "traceparent, all-zero trace-id": zero_traceparent,
    "X-API-Key + spaces / + tab": key_with_trailing_space,
    "Host missing / twice (HTTP/1.1)": host_rules,
    "70 KB request-target": long_target,
    "silent connection to the metrics port": silent_metrics_connection,
}


def _outcome(probe: Callable[[], str]) -> str:
    try:
        return probe()
    except OSError as error:  # the server is gone or refused the probe's connection
        return f"probe failed: {type(error).__name__}"


def limits() -> None:
    database_url = asyncio.run(create_database())
    OUTPUT.unlink(missing_ok=True)
    table: dict[str, dict[str, str]] = {}
    print(f"bounds: {LIMITS}, MAX_HEADER_COUNT default, DRAIN_SECONDS=2", flush=True)
    try:
        for server in SERVERS:
            with start(server, database_url, "app", logged=True, **LIMITS, DRAIN_SECONDS="2") as running:
                probes = {"4 MB pipelined, answers unread": lambda: pipelined_flood(running), **PROBES}
                for name, probe in probes.items():
                    table.setdefault(name, {})[server] = _outcome(probe)
                    print(f"  {server:<16} {name:<32} {table[name][server]}", flush=True)
                table.setdefault("SIGTERM (readiness polled)", {})[server] = sigterm(running)
                print(f"  {server:<16} SIGTERM: {table['SIGTERM (readiness polled)'][server]}", flush=True)
    finally:
        asyncio.run(drop_database(database_url))
    print(f"\n| client | {' | '.join(SERVERS)} |\n|---|{'---|' * len(SERVERS)}")
    for name, row in table.items():
        print(f"| {name} | {' | '.join(row[server] for server in SERVERS)} |")


# Header-field count at one head size: whether MAX_HEADER_COUNT is needed beside MAX_HEAD_BYTES


def _many_fields(count: int, size: int = 48_000) -> bytes:
    """A GET whose head is about `size` bytes, in `count` header fields."""
    pad = max(0, size // count - 12)
    fields = [f"x{number}: {'a' * pad}" for number in range(count)]
    return "\r\n".join(["GET /health/live HTTP/1.1", "Host: bench", *fields, "", ""]).encode()


def header_fields() -> None:
    """Server CPU per request for the same head size in 1 to 6,000 fields (MAX_HEADER_COUNT raised),
    200 requests on one connection each, the counts taken in turn over three rounds."""
    database_url = asyncio.run(create_database())
    counts, requests = (1, 100, 1000, 6000), 200
    cpu: dict[int, list[float]] = {count: [] for count in counts}
    try:
        with start("uvicorn-bounded", database_url, "app", MAX_HEADER_COUNT="10000") as running:
            for _ in range(3):
                for count in counts:
                    request, began = _many_fields(count), cpu_seconds(running.process.pid)
                    with _connection() as sock:
                        for _ in range(requests):
                            sock.sendall(request)
                            _answer(sock)
                    cpu[count].append((cpu_seconds(running.process.pid) - began) / requests * 1e6)
    finally:
        asyncio.run(drop_database(database_url))
    for count in counts:
        size = len(_many_fields(count))
        print(f"  {count:>5} fields, {size:,} bytes: {min(cpu[count]):6.0f} µs CPU per request (least of 3)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve_uvicorn(sys.argv[2])
    elif sys.argv[1:] == ["limits"]:
        limits()
    elif sys.argv[1:] == ["header-fields"]:
        header_fields()
    else:
        main()
