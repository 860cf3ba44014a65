# Container image for orders-api. Targets:
#   runtime (last stage, what a plain `docker build .` produces): the production image
#   dev: the dependency set with dev tools and an editable install, for compose watch and the test profile
# Needs BuildKit (the default builder since Docker 23) for the cache mounts. Base images are pinned by
# tag and digest (docs/container.md says how to move them); Dependabot keeps both in step.

# uv comes from its official image, pinned to the same version as the workflows and .ci/run.
FROM ghcr.io/astral-sh/uv:0.13.0@sha256:cdc6093146eb3ff6a40107b38f008b789e050e77ad87865e381d9917da55a168 AS uv

# One base for every stage, so the builder's interpreter is the runtime's interpreter: the venv
# links to /usr/local/bin/python3.12 and compiled extensions match its ABI.
FROM python:3.12-slim-bookworm@sha256:34386ef0cb081344d7ec1c103ba398e6e9f64e9ab3a1509accc92a4e24a07258 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# ---- builder: resolve and install the locked dependencies, then the project, into /opt/venv ----
FROM base AS builder
# binutils for `strip` only (below); it never reaches the runtime stage. Debian package versions are
# fixed by the base image digest's release, and pinning them here would break with every point release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*
COPY --from=uv /uv /usr/local/bin/uv
# Compile bytecode at build time (the runtime filesystem is read-only and cold start is 3x slower
# without it); copy instead of hard-linking from the cache mount; never download an interpreter.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PYTHON=/usr/local/bin/python3.12 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /app
# Dependencies first, from the lock files only: this layer is rebuilt when uv.lock changes, not when
# the source does.
COPY pyproject.toml uv.lock .python-version ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then the project itself, as a regular (non-editable) package: the runtime needs no source tree.
# README.md is the package's readme in pyproject.toml, so the build backend reads it.
COPY README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable
# Most binary wheels ship their extensions with debug info: 39 of the venv's 119 MB (docs/container.md).
# --strip-debug keeps the symbol table, so tracebacks and profilers still name functions.
RUN find /opt/venv -name '*.so' -exec strip --strip-debug {} +

# ---- dev: dev dependencies and an editable install of /app/src, for compose's app-dev and tests ----
# `docker compose --profile dev watch` copies changed files into /app/src and restarts the server, so
# development runs the production command against live code. Not hardened: never deploy this target.
FROM builder AS dev
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen
ENV HOST=0.0.0.0
EXPOSE 8000 9000
CMD ["python", "-m", "app", "serve"]

# ---- runtime: the interpreter, the virtualenv and nothing else ----
FROM base AS runtime
# A fixed numeric identity that owns nothing: every file below belongs to root and is read-only to
# the service. `--no-log-init` keeps useradd from writing a sparse lastlog entry for a high UID.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-log-init --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Build arguments come after the layers with content: a RUN after an ARG is rebuilt whenever the
# argument changes, and REVISION changes every commit. CI passes all three; the defaults mark a local build.
ARG VERSION=dev
ARG REVISION=local
ARG CREATED=""
LABEL org.opencontainers.image.title="orders-api" \
      org.opencontainers.image.description="Reference deployable FastAPI service: customers and orders on Postgres and Redis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.12-slim-bookworm"
# The image listens on every interface; the app's own default is loopback. APP_VERSION and
# RELEASE_ID feed the build_info metric and logs, so they always name the image that is running.
ENV HOST=0.0.0.0 \
    PORT=8000 \
    METRICS_PORT=9000 \
    APP_VERSION=${VERSION} \
    RELEASE_ID=${REVISION}
EXPOSE 8000 9000
# The slim image has no curl: probe liveness with the standard library. Liveness only, so a database
# outage does not get healthy containers restarted; readiness is the load balancer's business.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/health/live' % os.environ['PORT'], timeout=2)"]
STOPSIGNAL SIGTERM
# The one writable path. Declaring it makes ECS Fargate create its /tmp bind mount with the image's
# permissions (1777) instead of root-owned 0755, which user 10001 could not write.
VOLUME ["/tmp"]
USER 10001:10001
# Exec form: the server is PID 1 (or tini's child under `init: true`) and receives SIGTERM itself.
CMD ["python", "-m", "app", "serve"]
