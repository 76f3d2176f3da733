"""The ``rapport`` command: Django's manage.py plus Rapport's own commands, with readable start-up errors."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Run a management command, turning configuration and connection problems into one clear sentence."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rapport.settings")
    args = list(sys.argv[1:] if argv is None else argv)
    from rapport.config import ConfigError

    try:
        import django

        django.setup()
    except ConfigError as exc:
        sys.stderr.write(f"rapport: configuration error: {exc}\n")
        raise SystemExit(2) from None

    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(["rapport", *args])
    except OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        sys.stderr.write(
            f"rapport: the database can't be used ({first_line}); check DATABASE_URL, or run 'rapport doctor'.\n"
        )
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
