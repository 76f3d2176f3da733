"""Background work for contacts: running imports and scanning for duplicates. Thin: each calls a service."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, on_startup


@db_task(retries=2, retry_delay=5)
def import_run_task(job_id: int) -> None:
    """Run (or resume) an import job; safe to retry, as committed rows are never written twice."""
    from rapport.contacts.importing import import_run

    import_run(job_id=job_id)


@db_task()
def duplicates_scan_task(object_type: str) -> None:
    """Look for likely duplicate contacts or accounts and store the pairs found."""
    from rapport.contacts.duplicates import duplicates_scan

    duplicates_scan(object_type=object_type)


@db_periodic_task(crontab(minute="*/5"))
def imports_resume_stalled_task() -> None:
    """Every five minutes, hand imports whose worker died back to the queue."""
    from rapport.contacts.importing import imports_resume_stalled

    imports_resume_stalled()


@on_startup()
def imports_resume_on_start() -> None:
    """A worker that starts (after a crash or a deploy) picks up imports left unfinished."""
    from django.db import close_old_connections

    from rapport.contacts.importing import imports_resume_stalled

    imports_resume_stalled()
    close_old_connections()
