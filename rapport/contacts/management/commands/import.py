"""``rapport import contacts|accounts FILE``: import a CSV or XLSX file with the same engine as the import wizard."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from rapport.contacts import importing
from rapport.contacts.models import ImportJob, ObjectType, Party
from rapport.core.access import can
from rapport.core.errors import RapportError
from rapport.core.models import User, Via

OBJECT_TYPES = {"contacts": ObjectType.CONTACT, "accounts": ObjectType.ACCOUNT}


def error_sentence(exc: RapportError) -> str:
    """One line for the terminal: the error's message and every field's problem."""
    if not exc.errors:
        return exc.message
    details = " ".join(
        (e.message if not e.field or e.message[:1].isupper() else f"{e.field}: {e.message}").rstrip(".") + "."
        for e in exc.errors
    )
    # A problem with the file itself is a whole sentence already; say only that.
    return details if all(e.field == "file" for e in exc.errors) else f"{exc.message} {details}"


class Progress:
    """Shows how far an import is on stderr: a bar redrawn in place on a terminal, else a line now and then."""

    BAR_WIDTH = 30
    LINE_EVERY_SECONDS = 5.0

    def __init__(self, stream: OutputWrapper) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.last_line = self.started
        self.drawn = False

    def __call__(self, job: ImportJob) -> None:
        now = time.monotonic()
        percent = 100 if job.status == ImportJob.Status.DONE else job.percent
        rate = job.rows_done / max(now - self.started, 1e-6)
        text = f"{percent:3d}%  {job.rows_done:,} rows  {rate:,.0f} rows/s"
        if self.tty:
            filled = self.BAR_WIDTH * percent // 100
            bar = "█" * filled + "·" * (self.BAR_WIDTH - filled)
            self.stream.write(f"\r{bar} {text}", ending="")
            self.stream.flush()
            self.drawn = True
        elif now - self.last_line >= self.LINE_EVERY_SECONDS:
            self.stream.write(f"Importing: {text}")
            self.last_line = now

    def finish(self) -> None:
        if self.drawn:
            self.stream.write("")


class Command(BaseCommand):
    help = (
        "Import contacts or accounts from a CSV (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe "
        "separated) or XLSX file. Without --mapping, columns are mapped from their headers (those of HubSpot and "
        "Salesforce exports are known). Prints what was created, updated, merged, skipped and rejected, and "
        "where the rejected rows were written with their line numbers and reasons."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> NoReturn:
            # One sentence instead of argparse's usage dump; call_command callers get a CommandError.
            if getattr(parser, "called_from_command_line", False):
                sys.stderr.write(f"rapport import: {message}; see 'rapport import --help'.\n")
                raise SystemExit(2)
            raise CommandError(f"Error: {message}")

        parser.error = error  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("object_type", choices=sorted(OBJECT_TYPES), help="What the file holds.")
        parser.add_argument("file", help="The CSV or XLSX file.")
        parser.add_argument(
            "--mapping",
            metavar="FILE.json",
            help='A JSON object of column header to field, e.g. {"E-mail": "email", "Notes": null}; '
            "columns it leaves out are not imported.",
        )
        parser.add_argument("--mode", choices=ImportJob.Mode.values, default=ImportJob.Mode.UPSERT)
        parser.add_argument(
            "--match",
            choices=ImportJob.MatchOn.values,
            default=None,
            help="How rows find existing records (default: email for contacts, domain for accounts).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Run everything, then roll it back.")
        parser.add_argument("--user", metavar="USERNAME", help="Import as this user (their access rules apply).")
        parser.add_argument(
            "--party", choices=Party.values, default=Party.FIRST, help="Who supplied the data (provenance)."
        )
        parser.add_argument("--source", default="", metavar="NAME", help="The partner or data provider's name.")

    def fail(self, message: str, code: int = 2) -> NoReturn:
        """Print one sentence on stderr and exit (2: bad arguments or file; 1: the import failed)."""
        self.stderr.write(message)
        raise SystemExit(code)

    def handle(self, *args: Any, **options: Any) -> None:
        object_type = OBJECT_TYPES[options["object_type"]]
        actor = self.actor(options["user"])
        path = Path(options["file"])
        if not path.is_file():
            self.fail(f"There is no file at {options['file']}.")
        mapping = self.read_mapping(options["mapping"]) if options["mapping"] else None
        try:
            job = importing.import_job_create(
                actor=actor,
                via=Via.CLI,
                object_type=object_type,
                original_name=path.name,
                source_path=path,
                mode=options["mode"],
                match_on=options["match"],
                party=options["party"],
                party_name=options["source"],
            )
        except RapportError as exc:
            self.fail(error_sentence(exc))
        try:
            if mapping is not None:
                job = importing.import_mapping_save(actor=actor, job_id=job.pk, mapping=mapping)
            else:
                importing.import_mapping_check(
                    object_type=job.object_type,
                    headers=job.headers,
                    mapping=job.mapping,
                    mode=job.mode,
                    match_on=job.match_on,
                )
        except RapportError as exc:
            importing.import_job_delete(actor=None, job_id=job.pk)
            hint = "" if mapping is not None else " Give a mapping with --mapping FILE.json."
            self.fail(error_sentence(exc) + hint)
        self.describe(job, suggested=mapping is None)
        progress = Progress(self.stderr)
        try:
            job = importing.import_run(job_id=job.pk, dry_run=options["dry_run"], on_progress=progress)
        except RapportError as exc:
            progress.finish()
            self.fail(error_sentence(exc), code=1)
        except Exception:
            progress.finish()
            job = ImportJob.objects.get(pk=job.pk)
            self.fail(job.error or "The import stopped because of an unexpected error.", code=1)
        progress.finish()
        if job.status == ImportJob.Status.FAILED:
            self.fail(job.error, code=1)
        for line in importing.import_summary_lines(job):
            self.stdout.write(line)
        rejects = importing.import_rejects_path(job)
        if rejects is not None:
            self.stdout.write(f"Rejected rows, with their line numbers and reasons: {rejects}")

    def actor(self, username: str | None) -> User | None:
        """The user to import as (their role must allow imports), or None for the system."""
        if not username:
            return None
        user = User.objects.filter(username__iexact=username, is_active=True).first()
        if user is None:
            self.fail(f"There is no active user {username!r}; give the username of a Rapport user.")
        if not can(user, "records.import"):
            self.fail(f"{user.username}'s role ({user.get_role_display()}) may not import records.")
        return user

    def read_mapping(self, name: str) -> dict[str, object]:
        """Read a mapping file: a JSON object of column header to field name (or null to skip the column)."""
        try:
            data = json.loads(Path(name).read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            self.fail(f"There is no mapping file at {name}.")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.fail(f"The mapping file {name} is not valid JSON ({exc}).")
        if not isinstance(data, dict) or not all(isinstance(v, str | None) for v in data.values()):
            self.fail(
                f'The mapping file {name} must hold one JSON object such as {{"E-mail": "email", "Notes": null}}.'
            )
        return data

    def describe(self, job: ImportJob, *, suggested: bool) -> None:
        """Say what was read from the file and which columns go where."""
        self.stdout.write(f"Read {job.original_name}: {importing.import_file_description(job)}.")
        pairs = [f"{header} → {job.mapping[header]}" for header in job.headers if header in job.mapping]
        self.stdout.write(("Suggested mapping: " if suggested else "Mapping: ") + "; ".join(pairs) + ".")
        ignored = [header for header in job.headers if header not in job.mapping]
        if ignored:
            self.stdout.write("Ignored columns (not imported): " + ", ".join(ignored) + ".")
