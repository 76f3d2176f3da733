"""Settings read from the environment, each with a safe default.

Every problem is raised as a ``ConfigError`` whose message is one sentence a user can act on; the
``rapport`` command prints it and exits instead of showing a traceback.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(Exception):
    """A setting in the environment is missing or malformed."""


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no variable such as ``DEBUG=1`` or ``DEBUG=false``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}.")


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated variable such as ``ALLOWED_HOSTS=crm.example.com,localhost``."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def data_dir() -> Path:
    """Return the data directory (``RAPPORT_DATA_DIR``, default ``./var``), creating it if needed."""
    path = Path(os.environ.get("RAPPORT_DATA_DIR") or "var").expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"RAPPORT_DATA_DIR {str(path)!r} can't be created ({exc.strerror}); point it at a writable directory."
        ) from exc
    if not os.access(path, os.W_OK):
        raise ConfigError(f"RAPPORT_DATA_DIR {str(path)!r} is not writable; point it at a writable directory.")
    return path


def secret_key(directory: Path, debug: bool) -> str:
    """Return ``SECRET_KEY``; in development, generate one on first run and keep it in the data directory."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        if not debug and len(key) < 32:
            raise ConfigError("SECRET_KEY is too short: use at least 32 random characters.")
        return key
    if not debug:
        raise ConfigError(
            "SECRET_KEY must be set when DEBUG is off: set it to a long random string, "
            "for example the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    key_file = directory / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


def database(url: str | None, directory: Path) -> dict[str, object]:
    """Translate ``DATABASE_URL`` into Django's ``DATABASES['default']``; SQLite in WAL mode by default."""
    if not url:
        url = f"sqlite:///{directory / 'rapport.sqlite3'}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"sqlite", "sqlite3"}:
        # As in SQLAlchemy and dj-database-url: sqlite:////abs/path is absolute, sqlite:///rel/path relative.
        name = unquote(parts.path)
        if parts.netloc:  # sqlite://relative/path is a common slip: treat host+path as the path
            name = parts.netloc + name
        elif name.startswith("/"):
            name = name[1:]
        if name.rstrip("/") in {"", ".", ".."}:
            raise ConfigError(f"DATABASE_URL {url!r} names no SQLite file; use sqlite:////absolute/path.sqlite3.")
        if name != ":memory:":
            try:
                Path(name).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"DATABASE_URL {url!r} points into a directory that can't be created ({exc.strerror}); "
                    "use a writable path."
                ) from exc
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue instead of
                # failing with "database is locked" half-way through a transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    # A larger auto-checkpoint keeps big imports from paying a checkpoint (and fsync)
                    # at every batch's commit; the WAL is folded back once it reaches ~40 MB.
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA wal_autocheckpoint=10000;"
                    "PRAGMA foreign_keys=ON;PRAGMA cache_size=-64000;"
                    "PRAGMA mmap_size=268435456;"
                ),
            },
        }
    if scheme in {"postgres", "postgresql", "pgsql"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(f"DATABASE_URL {url!r} names no database; add it after the host, e.g. /rapport.")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"DATABASE_URL {url!r} has a port that is not a number.") from exc
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": query,
        }
    raise ConfigError(
        f"DATABASE_URL {url!r} is not understood: use sqlite:////path/to/file.sqlite3 "
        "or postgres://user:password@host:5432/dbname."
    )


@dataclass(frozen=True)
class EmailConfig:
    """Where outgoing email goes, parsed from ``EMAIL_URL``."""

    backend: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    file_path: str = ""
    from_address: str = ""


def email(url: str | None, directory: Path) -> EmailConfig:
    """Parse ``EMAIL_URL``: ``smtp://user:pass@host:587?tls=1``, ``smtps://...``, ``console:``, ``file:///dir``.

    Without it, messages are written as files into ``<data dir>/sent-mail`` so nothing leaves by accident.
    """
    if not url:
        return EmailConfig(
            backend="django.core.mail.backends.filebased.EmailBackend", file_path=str(directory / "sent-mail")
        )
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    sender = query.get("from", "")
    if scheme in {"smtp", "smtps", "submission"}:
        if not parts.hostname:
            raise ConfigError(f"EMAIL_URL {url!r} names no host; use smtp://user:password@host:587?tls=1.")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"EMAIL_URL {url!r} has a port that is not a number.") from exc
        use_ssl = scheme == "smtps" or query.get("ssl", "0").lower() in TRUE_WORDS
        use_tls = query.get("tls", "0").lower() in TRUE_WORDS or scheme == "submission"
        if use_ssl and use_tls:
            raise ConfigError("EMAIL_URL can't ask for both ssl and tls: pick ssl=1 (port 465) or tls=1 (port 587).")
        return EmailConfig(
            backend="django.core.mail.backends.smtp.EmailBackend",
            host=parts.hostname,
            port=port or (465 if use_ssl else 587 if use_tls else 25),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            use_tls=use_tls,
            use_ssl=use_ssl,
            from_address=sender,
        )
    if scheme == "console":
        return EmailConfig(backend="django.core.mail.backends.console.EmailBackend", from_address=sender)
    if scheme == "file":
        path = unquote(parts.path) or str(directory / "sent-mail")
        return EmailConfig(
            backend="django.core.mail.backends.filebased.EmailBackend", file_path=path, from_address=sender
        )
    if scheme == "memory":
        return EmailConfig(backend="django.core.mail.backends.locmem.EmailBackend", from_address=sender)
    raise ConfigError(
        f"EMAIL_URL {url!r} is not understood: use smtp://user:password@host:587?tls=1, "
        "smtps://user:password@host:465, console: or file:///path/to/dir."
    )


def redis_url() -> str | None:
    """Return ``REDIS_URL`` if set, after checking its scheme."""
    url = os.environ.get("REDIS_URL", "").strip()
    if not url:
        return None
    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError(f"REDIS_URL {url!r} is not understood: use redis://host:6379/0.")
    from redis.connection import parse_url

    try:
        # Parses port, database number and options the way the Redis client will, without connecting.
        parse_url(url)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL {url!r} is malformed ({str(exc).rstrip('.')}); use redis://host:6379/0.") from exc
    return url


def site_url() -> str:
    """Return ``SITE_URL``, the address users reach the app at, without a trailing slash."""
    url = os.environ.get("SITE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"SITE_URL {url!r} must be an http:// or https:// address such as https://crm.example.com.")
    return url


def env_int(name: str, default: int) -> int:
    """Read a whole, positive number such as ``RAPPORT_IMPORT_MAX_BYTES=1000000``."""
    raw = os.environ.get(name, "").strip().replace("_", "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) == 0:
        raise ConfigError(f"{name} must be a whole number above 0, not {os.environ[name]!r}.")
    return int(raw)


def time_zone() -> str:
    """Return ``TIME_ZONE`` (default ``UTC``), an IANA name such as ``Europe/Berlin``."""
    import zoneinfo

    name = os.environ.get("TIME_ZONE", "").strip() or "UTC"
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"TIME_ZONE {name!r} is not a known time zone; use a name such as Europe/Berlin or UTC."
        ) from None
    return name


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level() -> str:
    """Return ``LOG_LEVEL`` (default ``INFO``)."""
    level = os.environ.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL {level!r} is not a level; use one of {', '.join(LOG_LEVELS)}.")
    return level


def phone_region() -> str:
    """Return ``RAPPORT_DEFAULT_PHONE_REGION`` (default ``US``), a two-letter country code."""
    import phonenumbers

    raw = os.environ.get("RAPPORT_DEFAULT_PHONE_REGION", "").strip()
    region = raw.upper() or "US"
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(f"RAPPORT_DEFAULT_PHONE_REGION {raw!r} is not a country code; use one such as US or DE.")
    return region
