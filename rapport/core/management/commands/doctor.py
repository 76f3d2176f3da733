"""``rapport doctor``: check the installation and say what is wrong and how to fix it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from rapport.core.checks import Level, doctor_run


class Command(BaseCommand):
    help = (
        "Check the database, migrations, data directory, settings, task queue, worker, email and front-end "
        "libraries; exit 1 if anything is a problem."
    )
    # The doctor reports problems itself; Django's system checks would stop it before it could.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        styles = {Level.OK: self.style.SUCCESS, Level.WARNING: self.style.WARNING, Level.PROBLEM: self.style.ERROR}
        findings = doctor_run()
        for finding in findings:
            self.stdout.write(f"{styles[finding.level](f'{finding.level.value:<8}')} {finding.line()}")
        problems = sum(f.level is Level.PROBLEM for f in findings)
        warnings = sum(f.level is Level.WARNING for f in findings)
        summary = f"{problems} problem{'s' if problems != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}."
        if problems:
            self.stdout.write(f"\n{summary} Fix the problems above, then run rapport doctor again.")
            raise SystemExit(1)
        self.stdout.write(f"\n{summary} Rapport is ready.")
