"""The ``rapport`` command: Django's manage.py plus Rapport's own commands, with readable start-up errors."""

from __future__ import annotations

import os
import sqlite3
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
    except (OSError, sqlite3.Error) as exc:
        # Files in the data directory (secret key, task queue) that exist but can't be opened.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        sys.stderr.write(
            f"rapport: can't start ({reason}); check that RAPPORT_DATA_DIR and the files in it are writable.\n"
        )
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
    except BrokenPipeError:
        # The reader went away (`rapport doctor | head`); point stdout at /dev/null so exiting doesn't complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
