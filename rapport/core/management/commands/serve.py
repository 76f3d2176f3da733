"""``rapport serve``: migrate if needed, then run the web server (gunicorn) and the background worker."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connections

from rapport.core.serving import (
    WEB_WORKERS,
    ServeOptions,
    StartupError,
    Supervisor,
    database_ready,
    port_problem,
    queue_ready,
)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 1 and 65535")
    return value


class Command(BaseCommand):
    help = (
        "Run Rapport on one machine: apply pending migrations, then serve the pages and API with gunicorn "
        "and run the background worker beside it. Ctrl-C or SIGTERM stops both."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)"
        )
        parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
        parser.add_argument(
            "--workers", type=_count, default=WEB_WORKERS, help=f"web server processes (default {WEB_WORKERS})"
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="don't start the background worker here (run 'rapport worker' elsewhere)",
        )

    def handle(self, *args: Any, host: str, port: int, workers: int, no_worker: bool, **options: Any) -> None:
        from huey.contrib.djhuey import HUEY

        serve = ServeOptions(host=host, port=port, web_workers=workers, worker=not no_worker)
        if serve.worker and HUEY.immediate:
            self.stdout.write(
                "RAPPORT_TASKS_IMMEDIATE is on: tasks run inside the web server, so no worker is started."
            )
            serve = dataclasses.replace(serve, worker=False)
        try:
            database_ready(migrate=True, say=self.stdout.write)
            if serve.worker:
                queue_ready()
            problem = port_problem(host, port)
            if problem:
                raise StartupError(problem)
        except StartupError as exc:
            self.stderr.write(f"rapport: {exc}")
            raise SystemExit(1) from None
        # The children open their own connections; don't hold one open for as long as Rapport runs.
        connections.close_all()
        code = Supervisor(serve).run()
        if code:
            raise SystemExit(code)
