"""Command line: `python -m app serve` runs the server, `python -m app migrate` applies migrations.

These two commands are what the image, compose and the ECS task run. `migrate` reads only the database
settings (`DatabaseSettings`), so a one-off migration task needs no API keys. A bad setting stops
either one with a line per bad variable on stderr and exit code 2; the rejected value is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from app.settings import DatabaseSettings, Settings, format_errors


def load_settings[S: DatabaseSettings](kind: type[S]) -> S:
    try:
        return kind()  # values come from the environment
    except ValidationError as error:
        print(format_errors(error), file=sys.stderr)
        raise SystemExit(2) from None


def serve(settings: Settings) -> None:
    from app.main import as_served, create_app  # noqa: PLC0415  # imported here so `migrate` stays light
    from app.observability.logging import configure_logging  # noqa: PLC0415
    from app.observability.metrics import serve_metrics  # noqa: PLC0415
    from app.observability.tracing import tracing_from_env  # noqa: PLC0415
    from app.server import create_server  # noqa: PLC0415

    configure_logging(settings.log_level, console=settings.app_env == "dev" and sys.stdout.isatty())
    app = create_app(settings, tracing_from_env(settings))
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.host)
    create_server(settings, app, as_served(app)).run()


def migrate(settings: DatabaseSettings) -> None:
    from app.migrations.runner import upgrade_head  # noqa: PLC0415
    from app.observability.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level)
    asyncio.run(upgrade_head(settings))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(load_settings(Settings))
    else:
        migrate(load_settings(DatabaseSettings))


if __name__ == "__main__":
    main()
