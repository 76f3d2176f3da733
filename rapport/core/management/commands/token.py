"""``rapport token create|revoke|list``: API tokens from the command line.

``create`` prints the new token, and nothing else, on standard output, so scripts can capture it
(``TOKEN=$(rapport token create alice --scope write)``); everything meant for people goes to stderr.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from rapport.core.errors import RapportError
from rapport.core.management.commands.createuser import error_sentence
from rapport.core.models import ApiToken, User, Via
from rapport.core.services import token_create, token_revoke

# The services name fields after their arguments; the terminal user knows the options.
OPTION_NAMES = {"expires_in_days": "--expires-days", "scope": "--scope", "user": ""}


def _when(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def token_status(token: ApiToken) -> str:
    """``active``, ``revoked`` or ``expired``."""
    if token.revoked_at is not None:
        return "revoked"
    return "active" if token.is_active else "expired"


class Command(BaseCommand):
    help = "Create, revoke or list API tokens. Only a token's hash is stored: its secret is shown once, at creation."

    # Nothing here depends on URL or model checks; skipping them makes the command start quicker.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="create|revoke|list")
        create = actions.add_parser("create", help="Create a token for a user and print it (once) on stdout.")
        create.add_argument("username")
        create.add_argument("--scope", default=ApiToken.Scope.READ, metavar="read|write", help="Default: read.")
        create.add_argument("--name", default="", help="A label to recognise the token by, e.g. 'Zapier'.")
        create.add_argument(
            "--expires-days", type=int, default=None, metavar="D", help="Expire after D days (default: never)."
        )
        revoke = actions.add_parser("revoke", help="Revoke a token given by its secret or its prefix.")
        revoke.add_argument("token", metavar="TOKEN|PREFIX")
        listing = actions.add_parser("list", help="List tokens (never their secrets), optionally of one user.")
        listing.add_argument("username", nargs="?", default=None)

    def fail(self, message: str) -> NoReturn:
        """Print one sentence on stderr and exit with status 2 (bad input)."""
        self.stderr.write(message)
        raise SystemExit(2)

    def find_user(self, username: str) -> User:
        user = User.objects.filter(username__iexact=username.strip()).first()
        if user is None:
            self.fail(f"No user named {username!r}; create one with 'rapport createuser'.")
        return user

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(**options)

    def handle_create(self, **options: Any) -> None:
        user = self.find_user(options["username"])
        try:
            token, secret = token_create(
                user=user,
                scope=options["scope"],
                name=options["name"],
                expires_in_days=options["expires_days"],
                via=Via.CLI,
            )
        except RapportError as exc:
            for error in exc.errors:
                error.field = OPTION_NAMES.get(error.field, error.field)
            self.fail(error_sentence(exc, f"Can't create a token for {user.username!r}"))
        self.stdout.write(secret)
        expiry = f", expires {_when(token.expires_at)}" if token.expires_at else ""
        self.stderr.write(
            f"Created a {token.scope} token {token.prefix} for {user.username}{expiry}. "
            "It is shown only this once: store it now."
        )

    def handle_revoke(self, **options: Any) -> None:
        reference = options["token"].strip()
        if not reference:
            self.fail("Give the token to revoke, or its prefix as shown by 'rapport token list'.")
        try:
            token = token_revoke(token_ref=reference, via=Via.CLI)
        except RapportError as exc:
            self.fail(f"{exc.message.rstrip('.')}; see 'rapport token list' for the prefixes.")
        self.stdout.write(f"Token {token.prefix} of {token.user.username} is revoked.")

    def handle_list(self, **options: Any) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "-created_at", "-id")
        if options["username"]:
            tokens = tokens.filter(user=self.find_user(options["username"]))
        rows = [
            (
                t.prefix,
                t.user.username,
                t.scope,
                t.name or "-",
                _when(t.created_at),
                _when(t.last_used_at),
                _when(t.expires_at),
                token_status(t),
            )
            for t in tokens
        ]
        if not rows:
            whose = f" for {options['username']}" if options["username"] else ""
            self.stderr.write(f"No API tokens{whose}; create one with 'rapport token create USERNAME'.")
            return
        header = ("PREFIX", "USER", "SCOPE", "NAME", "CREATED", "LAST USED", "EXPIRES", "STATUS")
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            self.stdout.write(
                "  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
            )
