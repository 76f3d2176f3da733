"""``rapport doctor``: each check on its own, and the command on healthy and broken installs."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from django.utils import timezone

from rapport.core import checks
from rapport.core.checks import Finding, Level
from rapport.core.services import worker_heartbeat
from tests.core.test_config import RAPPORT, closed_port, rapport_env
from tests.core.test_serve_worker import migrated_data_dir

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


# --- the checks, one by one -------------------------------------------------------------------------------


def test_finding_reads_as_one_line_with_its_fix():
    finding = Finding(Level.PROBLEM, "Migrations", "3 not applied.", "run: rapport migrate")

    assert finding.line() == "Migrations: 3 not applied. → run: rapport migrate"


def test_migrations_are_ok_on_a_migrated_database(db):
    assert checks.check_migrations() == Finding(Level.OK, "Migrations", "all applied.")


def test_worker_without_any_heartbeat_is_a_problem_saying_how_to_start_it(db):
    finding = checks.check_worker_heartbeat(now=NOW, tasks_immediate=False)

    assert finding == Finding(
        Level.PROBLEM,
        "Worker",
        "no worker has ever run against this database.",
        "start it: rapport worker (or rapport serve, which starts one).",
    )


def test_worker_with_a_recent_heartbeat_is_alive(db):
    worker_heartbeat()

    finding = checks.check_worker_heartbeat(now=timezone.now() + dt.timedelta(seconds=30), tasks_immediate=False)

    assert finding.level is Level.OK
    assert finding.message in {"alive, last heartbeat 30 s ago.", "alive, last heartbeat 29 s ago."}


def test_worker_whose_last_heartbeat_is_three_minutes_old_is_a_problem(db):
    worker_heartbeat()

    finding = checks.check_worker_heartbeat(
        now=timezone.now() + dt.timedelta(minutes=3, seconds=1), tasks_immediate=False
    )

    assert finding.level is Level.PROBLEM
    assert finding.message == "last heartbeat 3 min ago; no worker is running."
    assert finding.fix == "start it: rapport worker (or rapport serve, which starts one)."


def test_worker_is_not_needed_when_tasks_run_immediately(db):
    finding = checks.check_worker_heartbeat(now=NOW, tasks_immediate=True)

    assert finding.level is Level.OK
    assert "no worker needed" in finding.message


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback that accepts and drops every message."""
    controller = Controller(Sink(), hostname="127.0.0.1", port=closed_port())
    controller.start()
    yield controller
    controller.stop()


def use_smtp(settings, host: str, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = host
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""


def test_email_to_an_answering_smtp_server_is_ok(settings, smtp_server):
    use_smtp(settings, "127.0.0.1", smtp_server.port)

    finding = checks.check_email(timeout=5)

    assert finding == Finding(Level.OK, "Email", f"SMTP server 127.0.0.1:{smtp_server.port} answers (no encryption).")


def test_email_to_a_closed_smtp_port_is_a_problem_naming_the_error(settings):
    port = closed_port()
    use_smtp(settings, "127.0.0.1", port)

    finding = checks.check_email(timeout=5)

    assert finding.level is Level.PROBLEM
    assert finding.message == f"can't talk to the SMTP server 127.0.0.1:{port} ([Errno 111] Connection refused)."
    assert finding.fix == "check EMAIL_URL, and that this machine may reach that host and port."


def test_email_asking_for_starttls_from_a_server_without_it_is_a_problem(settings, smtp_server):
    use_smtp(settings, "127.0.0.1", smtp_server.port)
    settings.EMAIL_USE_TLS = True

    finding = checks.check_email(timeout=5)

    assert finding.level is Level.PROBLEM
    assert "STARTTLS extension not supported by server" in finding.message


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("django.core.mail.backends.filebased.EmailBackend", "messages are written as files to"),
        ("django.core.mail.backends.console.EmailBackend", "messages are printed to the console"),
        ("django.core.mail.backends.locmem.EmailBackend", "messages are kept in memory and never sent."),
    ],
)
def test_email_that_does_not_leave_the_machine_is_a_warning(settings, backend, says):
    settings.EMAIL_BACKEND = backend

    finding = checks.check_email()

    assert finding.level is Level.WARNING
    assert finding.message.startswith(says)
    assert finding.fix == "set EMAIL_URL=smtp://user:password@host:587?tls=1 to send real email."


def test_debug_with_an_https_site_url_is_a_warning(settings):
    settings.DEBUG = True
    settings.SITE_URL = "https://crm.example.com"
    settings.ALLOWED_HOSTS = ["crm.example.com"]

    debug, hosts = checks.check_debug_and_hosts()

    assert debug.level is Level.WARNING
    assert "looks like production" in debug.message
    assert hosts.level is Level.OK


def test_a_site_url_host_outside_allowed_hosts_is_a_problem(settings):
    settings.DEBUG = False
    settings.SITE_URL = "https://crm.example.com"
    settings.ALLOWED_HOSTS = ["localhost"]

    debug, hosts = checks.check_debug_and_hosts()

    assert debug == Finding(Level.OK, "Debug", "DEBUG is off.")
    assert hosts.level is Level.PROBLEM
    assert hosts.message == (
        "SITE_URL's host 'crm.example.com' is not in ALLOWED_HOSTS ['localhost'], so its pages would answer 400."
    )


@pytest.mark.parametrize(
    ("site_url", "allowed", "says"),
    [
        ("https://crm.example.com", ["*"], "ALLOWED_HOSTS is '*', so any Host header is accepted."),
        ("http://crm.example.com", ["crm.example.com"], "SITE_URL http://crm.example.com is plain http"),
    ],
)
def test_loose_production_host_settings_are_warnings(settings, site_url, allowed, says):
    settings.DEBUG = False
    settings.SITE_URL = site_url
    settings.ALLOWED_HOSTS = allowed

    _, hosts = checks.check_debug_and_hosts()

    assert hosts.level is Level.WARNING
    assert hosts.message.startswith(says)


def test_missing_front_end_libraries_are_a_problem_fixed_by_make_setup(settings, tmp_path):
    vendor = tmp_path / "static" / "vendor"
    for name in checks.VENDOR_FILES[1:]:
        (vendor / name).parent.mkdir(parents=True, exist_ok=True)
        (vendor / name).write_text("/* library */")
    settings.BASE_DIR = tmp_path

    missing_one = checks.check_vendor_libraries()
    (vendor / checks.VENDOR_FILES[0]).write_text("/* library */")
    all_there = checks.check_vendor_libraries()

    assert missing_one.level is Level.PROBLEM
    assert missing_one.message.startswith("1 missing from ")
    assert missing_one.fix == "run: make setup"
    assert all_there == Finding(Level.OK, "Front-end libraries", "all 6 present.")


def test_an_unwritable_data_directory_is_a_problem(settings, tmp_path):
    (tmp_path / "file").write_text("")
    settings.DATA_DIR = tmp_path / "file"

    finding = checks.check_data_dir()

    assert finding.level is Level.PROBLEM
    assert finding.message.startswith(f"{tmp_path / 'file'} is not writable")


def test_secret_key_source_is_named(settings, monkeypatch, tmp_path):
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("SECRET_KEY", "k" * 50)
    from_env = checks.check_secret_key()
    monkeypatch.delenv("SECRET_KEY")
    from_file = checks.check_secret_key()

    assert from_env.message == "from the SECRET_KEY environment variable."
    assert from_file.message.startswith(f"generated and kept in {tmp_path / 'secret_key'}")


# --- the command ------------------------------------------------------------------------------------------


def record_heartbeat(data_dir: Path) -> None:
    """Write a fresh worker heartbeat the way Django stores datetimes in SQLite (UTC text)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    connection = sqlite3.connect(data_dir / "rapport.sqlite3")
    with connection:
        connection.execute("INSERT INTO core_workerheartbeat (name, beat_at) VALUES ('default', ?)", (now,))
    connection.close()


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAPPORT, "doctor"], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_doctor_on_a_healthy_install_exits_0(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    record_heartbeat(data_dir)

    result = doctor(rapport_env(data_dir))

    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert f"ok       Database: SQLite {sqlite3.sqlite_version} at {data_dir / 'rapport.sqlite3'}." in lines
    assert "ok       Migrations: all applied." in lines
    assert "ok       SQLite journal: WAL mode." in lines
    assert f"ok       Task queue: SQLite file {data_dir / 'huey.sqlite3'}." in lines
    assert "ok       Pending tasks: 0 waiting, 0 scheduled for later." in lines
    assert any(line.startswith("ok       Worker: alive, last heartbeat ") for line in lines)
    assert any(line.startswith("warning  Email: messages are written as files to ") for line in lines)
    assert lines[-1].startswith("0 problems, ")
    assert result.stderr == ""


def test_doctor_on_an_unmigrated_database_exits_1_and_says_run_rapport_migrate(tmp_path):
    result = doctor(rapport_env(tmp_path))

    assert result.returncode == 1
    migrations = next(line for line in result.stdout.splitlines() if "Migrations:" in line)
    assert migrations.startswith("problem  Migrations: ")
    assert migrations.endswith("→ run: rapport migrate")
    assert "warning  Worker: not checked until the database is ready." in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_with_an_unreachable_smtp_server_reports_a_problem_line(tmp_path):
    data_dir = migrated_data_dir(tmp_path / "data")
    record_heartbeat(data_dir)
    port = closed_port()

    result = doctor(rapport_env(data_dir, EMAIL_URL=f"smtp://127.0.0.1:{port}"))

    assert result.returncode == 1
    assert (
        f"problem  Email: can't talk to the SMTP server 127.0.0.1:{port} ([Errno 111] Connection refused). "
        "→ check EMAIL_URL, and that this machine may reach that host and port."
    ) in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1].startswith("1 problem, ")


def test_doctor_with_an_unreachable_database_reports_it_and_skips_what_depends_on_it(tmp_path):
    port = closed_port()

    result = doctor(rapport_env(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/rapport"))

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        f"problem  Database: can't use PostgreSQL at 127.0.0.1:{port}/rapport (connection failed:"
    )
    assert "warning  Migrations: not checked, as the database can't be used." in lines
    assert "Traceback" not in result.stdout + result.stderr
