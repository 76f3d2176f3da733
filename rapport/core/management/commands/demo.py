"""``rapport demo``: load a realistic, reproducible synthetic company and print how to log in."""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from rapport.core.demo import DEFAULT_CONTACTS, DEFAULT_SEED, MAX_CONTACTS, demo_load
from rapport.core.errors import RapportError
from rapport.core.management.commands.createuser import error_sentence
from rapport.core.models import Role

# What the summary counts, in order, with each name's singular.
SUMMARY = {
    "users": "user",
    "teams": "team",
    "territories": "territory",
    "partner organisations": "partner organisation",
    "custom fields": "custom field",
    "accounts": "account",
    "contacts": "contact",
    "tags": "tag",
    "product lines": "product line",
    "products": "product",
    "pipelines": "pipeline",
    "opportunities": "opportunity",
    "stage changes": "stage change",
    "orders": "order",
    "tasks": "task",
    "appointments": "appointment",
    "calls and notes": "call or note",
    "emails": "email",
    "quotas": "quota",
}


class Command(BaseCommand):
    help = (
        "Load demo data: teams, users of every role, territories, a partner, accounts and contacts. "
        "The same --seed always gives the same data. The admin's password is generated on the first run "
        "and kept in <RAPPORT_DATA_DIR>/demo-login.txt."
    )

    # Nothing here depends on URL or model checks; skipping them makes the command start quicker.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--contacts",
            type=int,
            default=DEFAULT_CONTACTS,
            metavar="N",
            help=f"How many contacts (about one account per seven); default {DEFAULT_CONTACTS:,}, "
            f"at most {MAX_CONTACTS:,}.",
        )
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S", help=f"Default {DEFAULT_SEED}.")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Load nothing if the database already has contacts (but still print the login).",
        )

    def fail(self, message: str) -> NoReturn:
        """Print one sentence on stderr and exit with status 2 (bad input)."""
        self.stderr.write(message)
        raise SystemExit(2)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = demo_load(
                data_dir=settings.DATA_DIR,
                url=settings.SITE_URL,
                contacts=options["contacts"],
                seed=options["seed"],
                if_empty=options["if_empty"],
            )
        except RapportError as exc:
            field_names = {"contacts": "--contacts"}
            for error in exc.errors:
                error.field = field_names.get(error.field, error.field)
            self.fail(error_sentence(exc, "Can't load the demo data"))
        if not result.loaded:
            self.stdout.write("The database already has contacts, so no demo data was loaded.")
        else:
            counts = ", ".join(
                f"{result.created[name]:,} {name if result.created[name] != 1 else singular}"
                for name, singular in SUMMARY.items()
                if result.created.get(name)
            )
            if counts:
                self.stdout.write(f"Loaded demo data (seed {result.seed}) in {result.seconds:.1f} s: {counts}.")
            else:
                self.stdout.write(f"The demo data of seed {result.seed} was already there: nothing new was created.")
            others = [u for u in result.users if u.username != result.login.username]
            if others and result.login.password:
                listing = ", ".join(f"{u.username} ({Role(u.role).label.lower()})" for u in others)
                self.stdout.write(f"Demo users with the same password: {listing}.")
        if result.login.password:
            self.stdout.write(f"The login is kept in {result.login.file}.")
        self.stdout.write(self.style.SUCCESS(result.login.line()) if result.login.password else result.login.line())
