"""Health checks behind ``rapport doctor`` (and the start-up checks of ``rapport serve`` and ``rapport worker``).

Each check looks at one thing and returns a ``Finding``: ok, warning or problem, what was seen, and how to fix
it. Checks never raise: whatever goes wrong while checking becomes part of the finding, so the doctor can
always print a full report.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
import shutil
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

# A worker beats once a minute; two missed beats mean it is gone.
HEARTBEAT_MAX_AGE = dt.timedelta(minutes=2)
# Queued tasks beyond this suggest the workers can't keep up.
BACKLOG_WARNING = 1000
# Free space below this in the data directory is worth a warning: imports and SQLite need room.
LOW_DISK_BYTES = 500 * 1024 * 1024
# The front-end libraries ``make setup`` copies from node_modules; the pages need all of them.
VENDOR_FILES = (
    "bootstrap/bootstrap.min.css",
    "bootstrap/bootstrap.bundle.min.js",
    "bootstrap-icons/bootstrap-icons.min.css",
    "chart.js/chart.min.js",
    "sortablejs/sortable.min.js",
    "alpinejs/alpine.min.js",
)


class Level(enum.StrEnum):
    """How bad a finding is; only problems make ``rapport doctor`` exit non-zero."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    """The result of one check: its level, what it is about, what was seen, and what to do about it."""

    level: Level
    topic: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The finding as one line of text, e.g. ``Migrations: 3 not applied. → run: rapport migrate``."""
        text = f"{self.topic}: {self.message}"
        return f"{text} → {self.fix}" if self.fix else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip().rstrip(".") if text else exc.__class__.__name__


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def database_description(alias: str = DEFAULT_DB_ALIAS) -> str:
    """Where the database is, without its password: a file path, or host:port/name."""
    conf = connections[alias].settings_dict
    if connections[alias].vendor == "sqlite":
        return str(conf["NAME"])
    host = conf.get("HOST") or "local socket"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"{host}{port}/{conf['NAME']}"


def check_database(alias: str = DEFAULT_DB_ALIAS) -> Finding:
    """The database answers; report its kind, version and location."""
    connection = connections[alias]
    where = database_description(alias)
    try:
        connection.ensure_connection()
        if connection.vendor == "postgresql":
            major, minor = divmod(connection.pg_version, 10000)  # type: ignore[attr-defined]
            version = f"PostgreSQL {major}.{minor}"
        elif connection.vendor == "sqlite":
            import sqlite3

            version = f"SQLite {sqlite3.sqlite_version}"
        else:
            version = connection.display_name
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return Finding(
            Level.PROBLEM,
            "Database",
            f"can't use {connection.display_name} at {where} ({_first_line(exc)}).",
            "check DATABASE_URL and that the database server is running and accepts this user.",
        )
    return Finding(Level.OK, "Database", f"{version} at {where}.")


def unapplied_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Names (``app.migration``) of the migrations not yet applied to the database."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def check_migrations(alias: str = DEFAULT_DB_ALIAS) -> Finding:
    """Every migration has been applied."""
    try:
        missing = unapplied_migrations(alias)
    except Exception as exc:
        return Finding(Level.PROBLEM, "Migrations", f"can't be read ({_first_line(exc)}).", "fix the database first.")
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        return Finding(Level.PROBLEM, "Migrations", f"{len(missing)} not applied ({shown}).", "run: rapport migrate")
    return Finding(Level.OK, "Migrations", "all applied.")


def check_sqlite_wal(alias: str = DEFAULT_DB_ALIAS) -> Finding | None:
    """SQLite runs in WAL mode, so readers don't block the writer; ``None`` for other databases."""
    connection = connections[alias]
    if connection.vendor != "sqlite":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = str(cursor.fetchone()[0]).lower()
    except Exception as exc:
        return Finding(Level.PROBLEM, "SQLite journal", f"can't be read ({_first_line(exc)}).")
    if mode != "wal":
        return Finding(
            Level.WARNING,
            "SQLite journal",
            f"mode is {mode}, not WAL, so pages wait while the worker writes.",
            "keep the database on a local disk (WAL doesn't work on network file systems).",
        )
    return Finding(Level.OK, "SQLite journal", "WAL mode.")


def check_data_dir() -> Finding:
    """The data directory exists, is writable, and has room."""
    path = Path(settings.DATA_DIR)
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
        free = shutil.disk_usage(path).free
    except OSError as exc:
        return Finding(
            Level.PROBLEM,
            "Data directory",
            f"{path} is not writable ({exc.strerror or _first_line(exc)}).",
            "make it writable by this user, or point RAPPORT_DATA_DIR at a writable directory.",
        )
    free_text = f"{free / 1024**3:.1f} GB free"
    if free < LOW_DISK_BYTES:
        return Finding(Level.WARNING, "Data directory", f"{path} has only {free_text}.", "free some disk space.")
    return Finding(Level.OK, "Data directory", f"{path} is writable, {free_text}.")


def check_secret_key() -> Finding:
    """Say where ``SECRET_KEY`` comes from."""
    if os.environ.get("SECRET_KEY", "").strip():
        return Finding(Level.OK, "Secret key", "from the SECRET_KEY environment variable.")
    key_file = Path(settings.DATA_DIR) / "secret_key"
    return Finding(
        Level.OK,
        "Secret key",
        f"generated and kept in {key_file} (development); keep that file with the data, or set SECRET_KEY.",
    )


def check_debug_and_hosts() -> list[Finding]:
    """DEBUG, ALLOWED_HOSTS and SITE_URL agree with each other and with the kind of install."""
    from django.http.request import validate_host

    findings: list[Finding] = []
    site = urlsplit(settings.SITE_URL)
    site_host = site.hostname or ""
    https = site.scheme == "https"
    local = site_host in {"localhost", "127.0.0.1", "::1"}
    if settings.DEBUG and https:
        findings.append(
            Finding(
                Level.WARNING,
                "Debug",
                f"DEBUG is on but SITE_URL is {settings.SITE_URL}, which looks like production; "
                "error pages would show internals.",
                "set DEBUG=0 (and SECRET_KEY).",
            )
        )
    elif settings.DEBUG:
        findings.append(
            Finding(Level.WARNING, "Debug", "DEBUG is on: fine for development, not for production.", "set DEBUG=0.")
        )
    else:
        findings.append(Finding(Level.OK, "Debug", "DEBUG is off."))

    hosts = list(dict.fromkeys(settings.ALLOWED_HOSTS))
    if not validate_host(site_host, hosts):
        findings.append(
            Finding(
                Level.PROBLEM,
                "Hosts",
                f"SITE_URL's host {site_host!r} is not in ALLOWED_HOSTS {hosts}, so its pages would answer 400.",
                f"add {site_host} to ALLOWED_HOSTS, or leave ALLOWED_HOSTS unset.",
            )
        )
    elif "*" in hosts and not settings.DEBUG:
        findings.append(
            Finding(
                Level.WARNING,
                "Hosts",
                "ALLOWED_HOSTS is '*', so any Host header is accepted.",
                f"set ALLOWED_HOSTS={site_host}.",
            )
        )
    elif not https and not local and not settings.DEBUG:
        findings.append(
            Finding(
                Level.WARNING,
                "Hosts",
                f"SITE_URL {settings.SITE_URL} is plain http, so passwords and session cookies cross the network "
                "unencrypted.",
                "serve over HTTPS behind a reverse proxy and set SITE_URL=https://...",
            )
        )
    else:
        findings.append(Finding(Level.OK, "Hosts", f"SITE_URL {settings.SITE_URL}, ALLOWED_HOSTS {', '.join(hosts)}."))
    return findings


def _huey():  # type: ignore[no-untyped-def]
    from huey.contrib.djhuey import HUEY

    return HUEY


def check_queue_storage() -> Finding:
    """The task queue's storage answers: Redis when ``REDIS_URL`` is set, else the SQLite queue file."""
    if _huey().immediate:
        return Finding(Level.OK, "Task queue", "none: tasks run inside the web process (RAPPORT_TASKS_IMMEDIATE).")
    redis_url = getattr(settings, "REDIS_URL", None)
    if redis_url:
        import redis

        shown = urlsplit(redis_url)._replace(netloc=urlsplit(redis_url).netloc.rpartition("@")[2]).geturl()
        try:
            client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
            client.ping()
            client.close()
        except Exception as exc:
            return Finding(
                Level.PROBLEM,
                "Task queue",
                f"Redis at {shown} doesn't answer ({_first_line(exc)}).",
                "start Redis, or fix REDIS_URL (unset it to keep the queue in SQLite).",
            )
        return Finding(Level.OK, "Task queue", f"Redis at {shown}.")
    filename = Path(getattr(_huey().storage, "filename", ""))
    try:
        _huey().pending_count()
        if not os.access(filename, os.W_OK):
            raise PermissionError(f"{filename} is not writable")
    except Exception as exc:
        return Finding(
            Level.PROBLEM,
            "Task queue",
            f"the SQLite queue {filename} can't be used ({_first_line(exc)}).",
            "make the data directory writable.",
        )
    return Finding(Level.OK, "Task queue", f"SQLite file {filename}.")


def check_worker_heartbeat(*, now: dt.datetime | None = None, tasks_immediate: bool | None = None) -> Finding:
    """A worker has beaten recently (it records a heartbeat at start and once a minute)."""
    from rapport.core.models import WorkerHeartbeat

    if _huey().immediate if tasks_immediate is None else tasks_immediate:
        return Finding(
            Level.OK, "Worker", "tasks run inside the web process (RAPPORT_TASKS_IMMEDIATE), no worker needed."
        )
    fix = "start it: rapport worker (or rapport serve, which starts one)."
    try:
        last = WorkerHeartbeat.objects.order_by("-beat_at").first()
    except Exception as exc:
        return Finding(
            Level.PROBLEM, "Worker", f"heartbeat can't be read ({_first_line(exc)}).", "fix the database first."
        )
    if last is None:
        return Finding(Level.PROBLEM, "Worker", "no worker has ever run against this database.", fix)
    age = (now or timezone.now()) - last.beat_at
    if age > HEARTBEAT_MAX_AGE:
        return Finding(Level.PROBLEM, "Worker", f"last heartbeat {_ago(age)}; no worker is running.", fix)
    return Finding(Level.OK, "Worker", f"alive, last heartbeat {_ago(max(age, dt.timedelta(0)))}.")


def check_pending_tasks() -> Finding:
    """How many tasks wait in the queue."""
    try:
        pending = _huey().pending_count()
        scheduled = _huey().scheduled_count()
    except Exception as exc:
        return Finding(Level.PROBLEM, "Pending tasks", f"can't be counted ({_first_line(exc)}).")
    message = f"{pending} waiting, {scheduled} scheduled for later."
    if pending > BACKLOG_WARNING:
        return Finding(
            Level.WARNING,
            "Pending tasks",
            message + " The workers are not keeping up.",
            "run more workers: rapport worker --workers N, or more worker machines with Redis.",
        )
    return Finding(Level.OK, "Pending tasks", message)


def check_email(timeout: float = 5) -> Finding:
    """Outgoing email goes somewhere useful; for SMTP, the server answers (and accepts the log-in)."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    fix_smtp = "set EMAIL_URL=smtp://user:password@host:587?tls=1 to send real email."
    if backend == "filebased":
        return Finding(
            Level.WARNING,
            "Email",
            f"messages are written as files to {settings.EMAIL_FILE_PATH} and don't leave this machine.",
            fix_smtp,
        )
    if backend == "console":
        return Finding(
            Level.WARNING, "Email", "messages are printed to the console and don't leave this machine.", fix_smtp
        )
    if backend == "locmem":
        return Finding(Level.WARNING, "Email", "messages are kept in memory and never sent.", fix_smtp)
    if backend != "smtp":
        return Finding(Level.OK, "Email", f"backend {settings.EMAIL_BACKEND}.")
    where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
    try:
        if settings.EMAIL_USE_SSL:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            server = smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT, timeout=timeout)
        try:
            server.ehlo()
            if settings.EMAIL_USE_TLS:
                server.starttls(context=ssl.create_default_context())
                server.ehlo()
            if settings.EMAIL_HOST_USER:
                server.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
        finally:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                server.close()
    except smtplib.SMTPAuthenticationError:
        return Finding(
            Level.PROBLEM, "Email", f"the SMTP server {where} refused the user name or password.", "fix EMAIL_URL."
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else _first_line(exc)
        return Finding(
            Level.PROBLEM,
            "Email",
            f"can't talk to the SMTP server {where} ({reason}).",
            "check EMAIL_URL, and that this machine may reach that host and port.",
        )
    security = "SSL" if settings.EMAIL_USE_SSL else "STARTTLS" if settings.EMAIL_USE_TLS else "no encryption"
    return Finding(Level.OK, "Email", f"SMTP server {where} answers ({security}).")


def check_vendor_libraries() -> Finding:
    """The front-end libraries copied by ``make setup`` are present."""
    vendor = Path(settings.BASE_DIR) / "static" / "vendor"
    missing = [name for name in VENDOR_FILES if not (vendor / name).is_file()]
    if missing:
        return Finding(
            Level.PROBLEM,
            "Front-end libraries",
            f"{len(missing)} missing from {vendor} ({', '.join(missing)}); pages will look broken.",
            "run: make setup",
        )
    return Finding(Level.OK, "Front-end libraries", f"all {len(VENDOR_FILES)} present.")


def doctor_run() -> list[Finding]:
    """Run every check, in the order a reader would fix things; skip what depends on a failed check."""
    findings: list[Finding] = []
    database = check_database()
    findings.append(database)
    schema_ready = False
    if database.level is Level.PROBLEM:
        findings.append(Finding(Level.WARNING, "Migrations", "not checked, as the database can't be used."))
    else:
        migrations = check_migrations()
        schema_ready = migrations.level is Level.OK
        findings.append(migrations)
        wal = check_sqlite_wal()
        if wal is not None:
            findings.append(wal)
    findings.append(check_data_dir())
    findings.append(check_secret_key())
    findings.extend(check_debug_and_hosts())
    queue = check_queue_storage()
    findings.append(queue)
    if schema_ready:
        findings.append(check_worker_heartbeat())
    else:
        findings.append(Finding(Level.WARNING, "Worker", "not checked until the database is ready."))
    if queue.level is not Level.PROBLEM:
        findings.append(check_pending_tasks())
    findings.append(check_email())
    findings.append(check_vendor_libraries())
    return findings
