"""``rapport worker``: run the background worker (the Huey consumer) with its periodic tasks."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.module_loading import autodiscover_modules

from rapport.core.serving import WORKER_GRACEFUL_SECONDS, StartupError, database_ready, queue_ready

DEFAULT_THREADS = 2


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("must be between 1 and 64")
    return value


def _log_to_stdout() -> None:
    """Send log records to stdout, where a worker's output is expected (the web server's access log is too)."""
    for logger in (logging.getLogger(), logging.getLogger("huey")):
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                handler.setStream(sys.stdout)


class Command(BaseCommand):
    help = (
        "Run the background worker: imports, duplicate scans, sends and scheduled tasks. Uses Redis when "
        "REDIS_URL is set, else a SQLite queue in the data directory. SIGTERM lets running tasks finish "
        f"(up to {WORKER_GRACEFUL_SECONDS} s); SIGINT stops at once."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--workers",
            type=_count,
            default=DEFAULT_THREADS,
            help=f"tasks run at the same time, each in a thread (default {DEFAULT_THREADS})",
        )

    def handle(self, *args: Any, workers: int, **options: Any) -> None:
        from huey.contrib.djhuey import HUEY

        try:
            if HUEY.immediate:
                raise StartupError(
                    "RAPPORT_TASKS_IMMEDIATE is on, so tasks run inside the web process and a worker has "
                    "nothing to do; unset it to use the worker."
                )
            database_ready(migrate=False, say=self.stdout.write)
            queue_ready()
        except StartupError as exc:
            self.stderr.write(f"rapport: {exc}")
            raise SystemExit(1) from None

        # Register every app's tasks (and the periodic heartbeat in rapport.core.tasks) with the consumer.
        autodiscover_modules("tasks")
        _log_to_stdout()
        consumer = HUEY.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=True,
            check_worker_health=True,
            # SIGTERM (systemd, Docker, rapport serve) waits for running tasks; SIGINT interrupts them.
            graceful_signal="TERM",
            shutdown_timeout=WORKER_GRACEFUL_SECONDS,
        )
        consumer.run()
