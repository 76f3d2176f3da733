"""``rapport export contacts|accounts``: the list exports of the pages, from the command line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO, Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser

from rapport.contacts import exporting
from rapport.contacts.models import ObjectType
from rapport.contacts.queries import parse_filters
from rapport.core.access import can
from rapport.core.errors import ValidationFailed
from rapport.core.models import User

FORMAT_CHOICES = ("csv", "xlsx", "vcard", "vcf")


class Command(BaseCommand):
    help = (
        "Export contacts or accounts as CSV, XLSX or vCard (contacts only), with the list's filters. "
        "With --user, only what that user may see and their role must allow exports; without it, everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("object", choices=["contacts", "accounts"], help="What to export.")
        parser.add_argument("--format", dest="fmt", default="csv", help="csv (default), xlsx or vcard.")
        parser.add_argument("--output", "-o", default="-", help="File to write; '-' (default) for standard output.")
        parser.add_argument("--user", help="Export as this user: only the records they may see.")
        parser.add_argument("--q", default="", help="Search text, as in the list's search box.")
        parser.add_argument("--stage", action="append", default=[], help="Lifecycle stage (repeat or comma-separate).")
        parser.add_argument(
            "--country", action="append", default=[], help="ISO country code (repeat or comma-separate)."
        )
        parser.add_argument("--owner", default="", help="A user id or username, 'me' (needs --user) or 'none'.")
        parser.add_argument(
            "--tag", action="append", default=[], help="Contacts with this tag (repeat for all of several)."
        )
        parser.add_argument("--seniority", action="append", default=[], help="Contacts at this seniority level.")
        parser.add_argument("--updated-since", default="", help="Records changed since this date or time (ISO 8601).")
        parser.add_argument("--ordering", default="name", help="name, -name, created_at, -updated_at, …")

    def handle(self, *args: Any, **options: Any) -> None:
        object_type = ObjectType.CONTACT if options["object"] == "contacts" else ObjectType.ACCOUNT
        fmt = str(options["fmt"]).lower()
        if fmt not in FORMAT_CHOICES:
            self.fail(f"--format must be csv, xlsx or vcard, not {options['fmt']!r}.")
        fmt = exporting.FORMATS[fmt]
        if fmt == "vcf" and object_type != ObjectType.CONTACT:
            self.fail("vCard exports are for contacts only; use csv or xlsx for accounts.")
        user = self._user(options["user"])
        owner = str(options["owner"]).strip()
        if owner == "me" and user is None:
            self.fail("--owner me needs --user to say who 'me' is.")
        if owner and owner not in ("me", "none") and not owner.isdigit():
            found = User.objects.filter(username__iexact=owner).values_list("pk", flat=True).first()
            if found is None:
                self.fail(f"--owner: there is no user named {owner!r}.")
            owner = str(found)
        params: dict[str, Any] = {
            "q": options["q"],
            "stage": options["stage"],
            "country": options["country"],
            "owner": owner,
            "updated_since": options["updated_since"],
            "ordering": options["ordering"],
        }
        if object_type == ObjectType.CONTACT:
            params["tag"] = options["tag"]
            params["seniority"] = options["seniority"]
        elif options["tag"] or options["seniority"]:
            self.fail("--tag and --seniority apply to contacts only.")
        try:
            filters = parse_filters(params, object_type=object_type)
        except ValidationFailed as exc:
            problems = "; ".join(f"--{e.field.replace('_', '-')} {e.message}" for e in exc.errors)
            self.fail(f"The filters are not valid: {problems}")
        export = exporting.export_prepare(user=user, object_type=object_type, filters=filters)
        output = str(options["output"])
        if output == "-":
            self._write_stdout(export, fmt)
            return
        path = Path(output)
        if not path.parent.is_dir():
            self.fail(f"--output: the folder {path.parent} doesn't exist.")
        try:
            with path.open("wb") as handle:
                exporting.export_write(export, fmt, handle)
        except OSError as exc:
            self.fail(f"--output: can't write {path} ({exc.strerror}).")
        self.stderr.write(f"Wrote {path}.", style_func=lambda text: text)

    def fail(self, message: str) -> NoReturn:
        """Print one sentence on stderr and exit with status 2 (bad input)."""
        self.stderr.write(message)
        raise SystemExit(2)

    def _write_stdout(self, export: exporting.Export, fmt: str) -> None:
        """Bytes to a real standard output; text to a text-only one (such as ``call_command``'s)."""
        out: Any = self.stdout._out
        binary: IO[bytes] | None = getattr(out, "buffer", None)
        if binary is None:
            if fmt == "xlsx":
                self.fail("XLSX is binary: write it to a file with --output FILE.")
            chunks = exporting.csv_chunks(export) if fmt == "csv" else exporting.vcard_chunks(export)
            for chunk in chunks:
                self.stdout.write(chunk.decode(), ending="")
            return
        out.flush()
        if fmt == "xlsx":
            # A ZIP file is best written seekable: build it in a temporary file, then copy it out.
            with exporting.xlsx_tempfile(export) as handle:
                shutil.copyfileobj(handle, binary)
        else:
            exporting.export_write(export, fmt, binary)
        binary.flush()

    def _user(self, username: str | None) -> User | None:
        if not username:
            return None
        user = User.objects.filter(username__iexact=username).first()
        if user is None or not user.is_active:
            self.fail(f"--user: there is no active user named {username!r}.")
        if not can(user, "records.export"):
            self.fail(f"--user: {user.username}'s role ({user.get_role_display()}) may not export.")
        return user
