"""D6/D9 without Docker: the server runs the way the image runs it, on a read-only root filesystem.

The command and the environment come from the Dockerfile's runtime stage (CMD, ENV, HEALTHCHECK), so
they cannot drift from the image. The process runs in a private mount namespace where `/` is
remounted read-only and `/tmp` is a fresh tmpfs: what `docker run --read-only --tmpfs /tmp` and
compose's `read_only: true` do. The image's /opt/venv is the virtualenv running the tests (with src/
installed editable, so the source is read-only too). Needs root for the namespace: as another user the
command goes through `sudo -n` (CI runners allow it); in the compose `tests` service the container
has CAP_SYS_ADMIN for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.infra.conftest import ROOT
from tests.infra.test_container import (
    healthcheck_command,
    image_environment,
    parse_dockerfile,
    runtime_stage,
    serve_command,
)
from tests.integration.server import ServerProcess, server_env

pytestmark = pytest.mark.root  # the namespace needs it: skipped without, except under CI=true

IMAGE_VENV = "/opt/venv"
# The virtualenv running these tests: .venv on a workstation or CI, /opt/venv in the compose tests service.
LOCAL_VENV = Path(sys.prefix)
# The python base image's own PATH, which the Dockerfile's `PATH=/opt/venv/bin:$PATH` extends.
BASE_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Written only if the read-only setup failed (then the wrapper exits 97 and the test removes it).
WRITABLE_PROBE = LOCAL_VENV / ".read-only-probe"

# Runs inside the new mount namespace: make the root read-only (every mount the code and the
# interpreter live on), put a tmpfs on /tmp, prove both, then exec the command. `remount,bind,ro`
# changes this namespace's view only, never the filesystem itself.
READ_ONLY_ROOT = """
set -eu
probe=$1; shift
for target in $(for p in / {mounts}; do findmnt -n -o TARGET -T "$p"; done | sort -u); do
  mount -o remount,bind,ro "$target"
done
# A checkout or venv under /tmp (CI may clone there) would vanish under the tmpfs: keep the old /tmp
# reachable and bind those paths back, read-only, on top of the new tmpfs.
stash=/dev/shm/read-only-root  # a mount point only: the bind lives in this namespace
mkdir -p "$stash"
mount --bind /tmp "$stash"
mount -t tmpfs -o mode=1777,size=64m tmpfs /tmp
for path in {tmp_paths}; do
  mkdir -p "$path"
  mount --bind "$stash${{path#/tmp}}" "$path"
  mount -o remount,bind,ro "$path"
done
if touch "$probe" 2>/dev/null; then echo "read-only setup failed: $probe is writable" >&2; exit 97; fi
touch /tmp/.writable
exec "$@"
"""


def in_read_only_root(command: list[str], env: dict[str, str]) -> list[str]:
    """The command, run with exactly `env`, in a private mount namespace with a read-only root."""
    python_home = Path(os.path.realpath(LOCAL_VENV / "bin" / "python")).parent
    paths = (ROOT, LOCAL_VENV, python_home)
    under_tmp = [p for p in paths if Path(p).is_relative_to("/tmp")]
    script = READ_ONLY_ROOT.format(
        mounts=" ".join(f"'{p}'" for p in paths), tmp_paths=" ".join(f"'{p}'" for p in under_tmp)
    )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    return [
        *sudo,
        "unshare", "--mount", "--propagation", "private", "--",
        "sh", "-c", script, "read-only-root", str(WRITABLE_PROBE),
        "env", "-i", *(f"{key}={value}" for key, value in env.items()),
        *command,
    ]  # fmt: skip


def image_env(**runtime: str) -> dict[str, str]:
    """The runtime stage's ENV, with /opt/venv mapped to this checkout's venv, plus what the platform sets."""
    stages = parse_dockerfile()
    env = image_environment(stages, runtime_stage(stages), inherited={"PATH": BASE_IMAGE_PATH})
    return {key: value.replace(IMAGE_VENV, str(LOCAL_VENV)) for key, value in env.items()} | runtime


def test_image_command_serves_and_stops_cleanly_on_a_read_only_root(
    database_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    stages = parse_dockerfile()
    # What the platform adds at run time (compose, the ECS task): settings and free test ports.
    settings = server_env(database_url, redis_prefix)
    runtime = {key: settings[key] for key in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "API_KEYS")}
    env = image_env(
        **runtime, PORT=settings["PORT"], METRICS_PORT=settings["METRICS_PORT"], DRAIN_SECONDS="1"
    )
    assert env["HOST"] == "0.0.0.0", "the image's ENV must be used as is"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", "D6: the image must keep Python from writing bytecode"

    # The working directory is empty and read-only, like the image's WORKDIR: no .env file is read.
    try:
        with ServerProcess(
            env, command=in_read_only_root(serve_command(stages), env), cwd=tmp_path
        ) as server:
            assert httpx.get(server.url + "/health/live", timeout=5).status_code == 200, (
                "D6: live on a read-only root"
            )
            ready = server.wait_until_ready()
            assert ready.status_code == 200, (
                f"D6: ready on a read-only root: {ready.status_code} {ready.text}"
            )
            assert httpx.get(server.metrics_url, timeout=5).status_code == 200, (
                "D6: metrics on a read-only root"
            )

            # The image's own HEALTHCHECK command, in the same read-only environment.
            probe = subprocess.run(
                in_read_only_root(healthcheck_command(stages), env),
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert probe.returncode == 0, (
                f"A6: the image's HEALTHCHECK failed against a live server: {probe.stderr}"
            )

            code = server.terminate(timeout=40)
            output = server.output()
    finally:
        leaked = WRITABLE_PROBE.exists()
        WRITABLE_PROBE.unlink(missing_ok=True)
    assert code == 0, f"D9: SIGTERM must drain and exit 0, got {code}:\n{output[-3000:]}"
    assert "read-only setup failed" not in output, output
    for sign in ("Read-only file system", "Errno 30", "EROFS", "Traceback"):
        assert sign not in output, f"D6: the server tried to write outside /tmp ({sign}):\n{output[-3000:]}"
    assert not leaked, "D6: the read-only probe was written: the root was not read-only"
