"""The server process freezes its start-up heap and raises the young-generation threshold (ADR 0009).

Run in a child process: freezing the test process's own heap would keep every later test's garbage.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from app.server import GC_YOUNG_THRESHOLD
from tests.integration.server import free_port

_SERVE_THEN_REPORT = textwrap.dedent(
    """
    import asyncio, gc, sys
    from fastapi import FastAPI
    from app.server import create_server
    from tests.conftest import make_settings

    before = gc.get_threshold()[0], gc.get_freeze_count()
    app = FastAPI()
    server = create_server(make_settings(port=int(sys.argv[1]), drain_seconds=0), app, app)

    async def main() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print(*before, gc.get_threshold()[0], gc.get_freeze_count())
        server.should_exit = True
        await serving

    asyncio.run(main())
    """
)


def test_serving_freezes_the_start_up_heap_and_raises_the_young_threshold() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SERVE_THEN_REPORT, str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    threshold_before, frozen_before, threshold, frozen = map(int, result.stdout.split()[-4:])
    assert threshold_before == 700, "the child should start with CPython's default threshold"
    assert threshold == GC_YOUNG_THRESHOLD
    assert frozen > frozen_before + 10_000, f"{frozen_before} -> {frozen} frozen: start-up was not frozen"
