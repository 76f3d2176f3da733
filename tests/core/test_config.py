"""Settings from the environment: every URL form ``rapport.config`` accepts, its error sentences, the settings
logic built on it, and what ``rapport`` prints when the environment is wrong (one sentence, no traceback)."""

from __future__ import annotations

import importlib.util
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rapport import config
from rapport.config import ConfigError

RAPPORT = str(Path(sys.executable).with_name("rapport"))
# Everything Rapport reads from the environment; subprocesses get a clean copy without the test run's values.
RAPPORT_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    "RAPPORT_DATA_DIR",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "SITE_URL",
    "EMAIL_URL",
    "TIME_ZONE",
    "LOG_LEVEL",
    "RAPPORT_TASKS_IMMEDIATE",
    "RAPPORT_DEFAULT_PHONE_REGION",
}


def rapport_env(data_dir: Path, **values: str) -> dict[str, str]:
    """The environment for a ``rapport`` subprocess: development defaults in ``data_dir``, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if key not in RAPPORT_VARIABLES}
    env.update({"RAPPORT_DATA_DIR": str(data_dir), "DEBUG": "1"})
    env.update(values)
    return env


def closed_port() -> int:
    """A local TCP port nothing listens on (bound and released, so it is free right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- DATABASE_URL -----------------------------------------------------------------------------------------


def test_database_defaults_to_sqlite_in_wal_mode_inside_the_data_directory(tmp_path):
    db = config.database(None, tmp_path)

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == str(tmp_path / "rapport.sqlite3")
    assert "PRAGMA journal_mode=WAL" in db["OPTIONS"]["init_command"]
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////srv/rapport/crm.sqlite3", "/srv/rapport/crm.sqlite3"),
        ("sqlite:///relative/crm.sqlite3", "relative/crm.sqlite3"),
        ("sqlite://relative/crm.sqlite3", "relative/crm.sqlite3"),
        ("sqlite3:////srv/rapport/crm.sqlite3", "/srv/rapport/crm.sqlite3"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_database_reads_sqlite_urls_with_four_slashes_absolute_and_three_relative(url, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Path, "mkdir", lambda *args, **kwargs: None)

    assert config.database(url, tmp_path)["NAME"] == name


def test_database_reads_a_full_postgres_url():
    db = config.database("postgres://crm:p%40ss@db.internal:6432/rapport?sslmode=require", Path("/unused"))

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "rapport",
        "crm",
        "p@ss",
        "db.internal",
        "6432",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}
    assert db["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_database_accepts_each_postgres_scheme_and_a_missing_port(scheme):
    db = config.database(f"{scheme}://postgres@127.0.0.1/crm", Path("/unused"))

    assert (db["ENGINE"], db["NAME"], db["HOST"], db["PORT"], db["PASSWORD"]) == (
        "django.db.backends.postgresql",
        "crm",
        "127.0.0.1",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        (
            "mysql://root@localhost/crm",
            "DATABASE_URL 'mysql://root@localhost/crm' is not understood: use sqlite:////path/to/file.sqlite3 "
            "or postgres://user:password@host:5432/dbname.",
        ),
        (
            "postgres://postgres@127.0.0.1:5432",
            "DATABASE_URL 'postgres://postgres@127.0.0.1:5432' names no database; "
            "add it after the host, e.g. /rapport.",
        ),
        (
            "postgres://postgres@127.0.0.1:fivefour/crm",
            "DATABASE_URL 'postgres://postgres@127.0.0.1:fivefour/crm' has a port that is not a number.",
        ),
        ("sqlite://", "DATABASE_URL 'sqlite://' names no SQLite file; use sqlite:////absolute/path.sqlite3."),
    ],
)
def test_database_rejects_a_bad_url_with_one_sentence(url, sentence):
    with pytest.raises(ConfigError) as caught:
        config.database(url, Path("/unused"))

    assert str(caught.value) == sentence


def test_database_rejects_a_sqlite_file_in_a_directory_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(ConfigError, match=r"points into a directory that can't be created \(Not a directory\)"):
        config.database(f"sqlite:///{blocker}/sub/crm.sqlite3", tmp_path)


# --- EMAIL_URL --------------------------------------------------------------------------------------------


def test_email_without_a_url_writes_files_into_the_data_directory(tmp_path):
    mail = config.email(None, tmp_path)

    assert mail.backend == "django.core.mail.backends.filebased.EmailBackend"
    assert mail.file_path == str(tmp_path / "sent-mail")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mailer:s%3Acret@smtp.example.com:587?tls=1",
            ("smtp.example.com", 587, "mailer", "s:cret", True, False),
        ),
        ("smtp://smtp.example.com", ("smtp.example.com", 25, "", "", False, False)),
        ("smtp://smtp.example.com?tls=1", ("smtp.example.com", 587, "", "", True, False)),
        ("smtps://u:p@smtp.example.com", ("smtp.example.com", 465, "u", "p", False, True)),
        ("smtp://smtp.example.com?ssl=yes", ("smtp.example.com", 465, "", "", False, True)),
        ("submission://u:p@smtp.example.com", ("smtp.example.com", 587, "u", "p", True, False)),
    ],
)
def test_email_reads_smtp_urls_with_their_default_ports(url, expected, tmp_path):
    mail = config.email(url, tmp_path)

    assert mail.backend == "django.core.mail.backends.smtp.EmailBackend"
    assert (mail.host, mail.port, mail.user, mail.password, mail.use_tls, mail.use_ssl) == expected


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("console:", "django.core.mail.backends.console.EmailBackend"),
        ("memory:", "django.core.mail.backends.locmem.EmailBackend"),
        ("file:///var/mail/rapport", "django.core.mail.backends.filebased.EmailBackend"),
    ],
)
def test_email_reads_development_backends(url, backend, tmp_path):
    assert config.email(url, tmp_path).backend == backend


def test_email_file_url_names_the_directory_and_from_sets_the_sender(tmp_path):
    mail = config.email("file:///var/mail/rapport?from=crm@example.com", tmp_path)

    assert (mail.file_path, mail.from_address) == ("/var/mail/rapport", "crm@example.com")


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        (
            "pigeon://loft",
            "EMAIL_URL 'pigeon://loft' is not understood: use smtp://user:password@host:587?tls=1, "
            "smtps://user:password@host:465, console: or file:///path/to/dir.",
        ),
        ("smtp://:587", "EMAIL_URL 'smtp://:587' names no host; use smtp://user:password@host:587?tls=1."),
        (
            "smtp://mail.example.com:twentyfive",
            "EMAIL_URL 'smtp://mail.example.com:twentyfive' has a port that is not a number.",
        ),
        (
            "smtps://mail.example.com?tls=1",
            "EMAIL_URL can't ask for both ssl and tls: pick ssl=1 (port 465) or tls=1 (port 587).",
        ),
    ],
)
def test_email_rejects_a_bad_url_with_one_sentence(url, sentence, tmp_path):
    with pytest.raises(ConfigError) as caught:
        config.email(url, tmp_path)

    assert str(caught.value) == sentence


# --- REDIS_URL, flags, lists, SITE_URL, the data directory and the secret key ----------------------------


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:pw@cache.example.com:6380/2", "unix:///run/redis.sock"]
)
def test_redis_url_accepts_redis_and_socket_urls(url, monkeypatch):
    monkeypatch.setenv("REDIS_URL", url)

    assert config.redis_url() == url


def test_redis_url_is_optional(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "  ")

    assert config.redis_url() is None


@pytest.mark.parametrize(
    ("url", "sentence"),
    [
        ("http://cache:6379", "REDIS_URL 'http://cache:6379' is not understood: use redis://host:6379/0."),
        (
            "redis://cache:sixthousand/0",
            "REDIS_URL 'redis://cache:sixthousand/0' is malformed (Port could not be cast to integer value as "
            "'sixthousand'); use redis://host:6379/0.",
        ),
    ],
)
def test_redis_url_rejects_a_bad_url_with_one_sentence(url, sentence, monkeypatch):
    monkeypatch.setenv("REDIS_URL", url)

    with pytest.raises(ConfigError) as caught:
        config.redis_url()

    assert str(caught.value) == sentence


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_env_bool_reads_the_usual_words(raw, value, monkeypatch):
    monkeypatch.setenv("DEBUG", raw)

    assert config.env_bool("DEBUG", not value) is value


def test_env_bool_uses_the_default_when_unset_and_rejects_other_words(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    assert config.env_bool("DEBUG", True) is True

    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ConfigError) as caught:
        config.env_bool("DEBUG", False)
    assert str(caught.value) == "DEBUG must be 1/0, true/false, yes/no or on/off, not 'maybe'."


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " crm.example.com, ,localhost,")

    assert config.env_list("ALLOWED_HOSTS", ["default"]) == ["crm.example.com", "localhost"]


def test_site_url_drops_the_trailing_slash_and_rejects_other_schemes(monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://crm.example.com/")
    assert config.site_url() == "https://crm.example.com"

    monkeypatch.setenv("SITE_URL", "crm.example.com")
    with pytest.raises(ConfigError, match="must be an http:// or https:// address"):
        config.site_url()


def test_data_dir_is_created_and_a_path_under_a_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RAPPORT_DATA_DIR", str(tmp_path / "new" / "data"))
    assert config.data_dir() == tmp_path / "new" / "data"
    assert (tmp_path / "new" / "data").is_dir()

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("RAPPORT_DATA_DIR", str(tmp_path / "file" / "data"))
    with pytest.raises(ConfigError) as caught:
        config.data_dir()
    assert str(caught.value) == (
        f"RAPPORT_DATA_DIR '{tmp_path / 'file' / 'data'}' can't be created (Not a directory); "
        "point it at a writable directory."
    )


def test_secret_key_is_generated_once_kept_private_and_reused_in_development(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    first = config.secret_key(tmp_path, debug=True)
    second = config.secret_key(tmp_path, debug=True)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_secret_key_from_the_environment_wins_and_must_be_long_in_production(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    assert config.secret_key(tmp_path, debug=False) == "x" * 40
    assert not (tmp_path / "secret_key").exists()

    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigError) as caught:
        config.secret_key(tmp_path, debug=False)
    assert str(caught.value) == "SECRET_KEY is too short: use at least 32 random characters."


def test_secret_key_is_required_when_debug_is_off(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)

    with pytest.raises(ConfigError, match=r"^SECRET_KEY must be set when DEBUG is off"):
        config.secret_key(tmp_path, debug=False)


@pytest.mark.parametrize(
    ("name", "raw", "reader", "value"),
    [
        ("TIME_ZONE", "Europe/Berlin", config.time_zone, "Europe/Berlin"),
        ("TIME_ZONE", "", config.time_zone, "UTC"),
        ("LOG_LEVEL", "warning", config.log_level, "WARNING"),
        ("LOG_LEVEL", "", config.log_level, "INFO"),
        ("RAPPORT_DEFAULT_PHONE_REGION", "de", config.phone_region, "DE"),
        ("RAPPORT_DEFAULT_PHONE_REGION", "", config.phone_region, "US"),
    ],
)
def test_simple_settings_read_their_value_or_default(name, raw, reader, value, monkeypatch):
    monkeypatch.setenv(name, raw)

    assert reader() == value


@pytest.mark.parametrize(
    ("name", "raw", "reader", "sentence"),
    [
        (
            "TIME_ZONE",
            "Mars/Base",
            config.time_zone,
            "TIME_ZONE 'Mars/Base' is not a known time zone; use a name such as Europe/Berlin or UTC.",
        ),
        (
            "LOG_LEVEL",
            "loud",
            config.log_level,
            "LOG_LEVEL 'LOUD' is not a level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL.",
        ),
        (
            "RAPPORT_DEFAULT_PHONE_REGION",
            "Narnia",
            config.phone_region,
            "RAPPORT_DEFAULT_PHONE_REGION 'Narnia' is not a country code; use one such as US or DE.",
        ),
    ],
)
def test_simple_settings_reject_a_bad_value_with_one_sentence(name, raw, reader, sentence, monkeypatch):
    monkeypatch.setenv(name, raw)

    with pytest.raises(ConfigError) as caught:
        reader()

    assert str(caught.value) == sentence


def test_env_int_reads_whole_numbers_and_rejects_the_rest(monkeypatch):
    monkeypatch.setenv("RAPPORT_IMPORT_MAX_BYTES", "1_000_000")
    assert config.env_int("RAPPORT_IMPORT_MAX_BYTES", 5) == 1_000_000

    monkeypatch.setenv("RAPPORT_IMPORT_MAX_BYTES", "lots")
    with pytest.raises(ConfigError) as caught:
        config.env_int("RAPPORT_IMPORT_MAX_BYTES", 5)
    assert str(caught.value) == "RAPPORT_IMPORT_MAX_BYTES must be a whole number above 0, not 'lots'."


# --- rapport.settings built from the environment --------------------------------------------------------


def load_settings(monkeypatch, tmp_path: Path, **values: str):
    """Execute ``rapport/settings.py`` afresh under ``values`` and return the module (not registered anywhere)."""
    for key in RAPPORT_VARIABLES - {"DJANGO_SETTINGS_MODULE"}:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAPPORT_DATA_DIR", str(tmp_path))
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    path = Path(config.__file__).with_name("settings.py")
    spec = importlib.util.spec_from_file_location("rapport_settings_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_mark_cookies_secure_and_trust_the_proxy_when_site_url_is_https(monkeypatch, tmp_path):
    settings = load_settings(monkeypatch, tmp_path, DEBUG="0", SECRET_KEY="k" * 50, SITE_URL="https://crm.example.com")

    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.CSRF_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings.CSRF_TRUSTED_ORIGINS == ["https://crm.example.com"]
    assert "crm.example.com" in settings.ALLOWED_HOSTS


def test_settings_keep_cookies_http_only_but_not_secure_on_plain_http(monkeypatch, tmp_path):
    settings = load_settings(monkeypatch, tmp_path, DEBUG="1", SITE_URL="http://127.0.0.1:8000")

    assert settings.SESSION_COOKIE_SECURE is False
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert not hasattr(settings, "SECURE_PROXY_SSL_HEADER")


def test_settings_use_redis_for_the_queue_and_cache_only_when_redis_url_is_set(monkeypatch, tmp_path):
    sqlite = load_settings(monkeypatch, tmp_path, DEBUG="1")
    redis = load_settings(monkeypatch, tmp_path, DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/3")

    assert sqlite.HUEY["huey_class"] == "huey.SqliteHuey"
    assert sqlite.HUEY["filename"] == str(tmp_path / "huey.sqlite3")
    assert redis.HUEY["huey_class"] == "huey.RedisHuey"
    assert redis.HUEY["connection"] == {"url": "redis://127.0.0.1:6379/3"}
    assert redis.CACHES["default"]["LOCATION"] == "redis://127.0.0.1:6379/3"


# --- what `rapport` prints when the environment is wrong ------------------------------------------------


def run_rapport(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RAPPORT, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def assert_one_clear_sentence(result: subprocess.CompletedProcess[str], code: int, start: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(start), lines[0]


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"DATABASE_URL": "mysql://root@localhost/crm"}, "rapport: configuration error: DATABASE_URL 'mysql://"),
        ({"DEBUG": "maybe"}, "rapport: configuration error: DEBUG must be 1/0"),
        ({"DEBUG": "0"}, "rapport: configuration error: SECRET_KEY must be set when DEBUG is off"),
        ({"EMAIL_URL": "pigeon://loft"}, "rapport: configuration error: EMAIL_URL 'pigeon://loft' is not understood"),
        (
            {"REDIS_URL": "redis://cache:sixthousand/0"},
            "rapport: configuration error: REDIS_URL 'redis://cache:sixthousand/0' is malformed",
        ),
        ({"SITE_URL": "crm.example.com"}, "rapport: configuration error: SITE_URL 'crm.example.com' must be"),
        ({"TIME_ZONE": "Mars/Base"}, "rapport: configuration error: TIME_ZONE 'Mars/Base' is not a known time zone"),
        ({"LOG_LEVEL": "loud"}, "rapport: configuration error: LOG_LEVEL 'LOUD' is not a level"),
    ],
)
def test_a_misconfiguration_stops_rapport_with_one_sentence(values, start, tmp_path):
    result = run_rapport(["check"], rapport_env(tmp_path, **values))

    assert_one_clear_sentence(result, 2, start)


def test_an_unusable_data_directory_stops_rapport_with_one_sentence(tmp_path):
    (tmp_path / "file").write_text("")

    result = run_rapport(["check"], rapport_env(tmp_path / "file" / "data"))

    assert_one_clear_sentence(result, 2, "rapport: configuration error: RAPPORT_DATA_DIR")
    assert "can't be created (Not a directory)" in result.stderr


def test_a_data_file_that_cannot_be_opened_stops_rapport_with_one_sentence(tmp_path):
    (tmp_path / "huey.sqlite3").mkdir()  # the task queue's file is a directory: SQLite can't open it

    result = run_rapport(["check"], rapport_env(tmp_path))

    assert_one_clear_sentence(result, 2, "rapport: can't start (unable to open database file)")


@pytest.mark.parametrize("command", [["migrate"], ["serve", "--port", "1"], ["worker"], ["showmigrations"]])
def test_an_unreachable_postgres_stops_each_command_with_one_sentence(command, tmp_path):
    url = f"postgres://postgres@127.0.0.1:{closed_port()}/rapport"

    result = run_rapport(command, rapport_env(tmp_path, DATABASE_URL=url))

    assert_one_clear_sentence(result, 1, "rapport: the database can't be used (connection failed:")
    assert "Connection refused" in result.stderr
