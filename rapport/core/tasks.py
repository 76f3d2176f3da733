"""Background work for core: the worker's heartbeat, which ``rapport doctor`` reads."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, on_startup


@db_periodic_task(crontab(minute="*"))
def heartbeat() -> None:
    """Record once a minute that a worker is alive."""
    from rapport.core.services import worker_heartbeat

    worker_heartbeat()


@on_startup()
def heartbeat_on_start() -> None:
    """Record a heartbeat as soon as a worker starts, so ``rapport doctor`` sees it at once."""
    from django.db import close_old_connections

    from rapport.core.services import worker_heartbeat

    worker_heartbeat()
    close_old_connections()


@db_periodic_task(crontab(minute="17", hour="3"))
def statistics_refresh_nightly() -> None:
    """Keep the query planner's statistics fresh as records accumulate."""
    from rapport.core.db import statistics_refresh

    statistics_refresh()
