"""``rapport createuser USERNAME --role ROLE``: add a user with a role, team or partner organisation."""

from __future__ import annotations

import getpass
import sys
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser

from rapport.core.errors import RapportError
from rapport.core.models import Role, Via
from rapport.core.services import user_create

READ_STDIN = "-"  # --password - reads the password from standard input


def error_sentence(exc: RapportError, what: str) -> str:
    """One sentence for the terminal: what failed, and every field's problem."""
    if not exc.errors:
        return exc.message
    details = " ".join((f"{e.field}: {e.message}" if e.field else e.message).rstrip(".") + "." for e in exc.errors)
    return f"{what}: {details}"


class Command(BaseCommand):
    help = (
        "Create a user with a role (admin, marketing, sales_manager, sales_rep, service_agent, partner). "
        "The team and partner organisation are created if they don't exist yet. "
        "Use --password - to type the password (or pipe it in) instead of putting it on the command line."
    )

    # Nothing here depends on URL or model checks; skipping them makes the command start quicker.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, metavar="ROLE", help=f"One of: {', '.join(Role.values)}.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password",
            default=None,
            help="The password; '-' reads it from standard input (without echo on a terminal). "
            "Without it the user can't log in until a password is set with 'rapport changepassword'.",
        )
        parser.add_argument("--team", default=None, help="The team's name; created if new.")
        parser.add_argument(
            "--partner", default=None, metavar="ORG", help="Partner organisation (partner role only); created if new."
        )
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")

    def fail(self, message: str) -> NoReturn:
        """Print one sentence on stderr and exit with status 2 (bad input), creating nothing."""
        self.stderr.write(message)
        raise SystemExit(2)

    def read_password(self) -> str:
        """Read the password from standard input: asked twice without echo on a terminal, else one line."""
        if sys.stdin is not None and sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if getpass.getpass("Password (again): ") != first:
                self.fail("The two passwords differ; nothing was created.")
            return first
        line = sys.stdin.readline() if sys.stdin is not None else ""
        password = line.rstrip("\r\n")
        if not password:
            self.fail("--password - expects the password on standard input, but it was empty; nothing was created.")
        return password

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"]
        if password == READ_STDIN:
            password = self.read_password()
        try:
            user = user_create(
                username=options["username"],
                role=options["role"],
                email=options["email"],
                password=password,
                team=options["team"],
                partner=options["partner"],
                first_name=options["first_name"],
                last_name=options["last_name"],
                actor=None,
                via=Via.CLI,
            )
        except RapportError as exc:
            self.fail(error_sentence(exc, f"Can't create user {options['username']!r}"))
        where = ""
        if user.team is not None:
            where += f", team {user.team.name}"
        if user.partner_organisation is not None:
            where += f", partner organisation {user.partner_organisation.name}"
        self.stdout.write(f"Created user {user.username} ({user.role}{where}).")
        if not user.has_usable_password():
            self.stderr.write(
                f"{user.username} can't log in until a password is set: run 'rapport changepassword {user.username}'."
            )
