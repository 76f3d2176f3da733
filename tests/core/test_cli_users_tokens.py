"""``rapport createuser`` and ``rapport token``: through ``call_command`` and as real processes."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from rapport.core.models import ApiToken, AuditEntry, PartnerOrganisation, Role, Team, User, Via
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
RAPPORT = ROOT / ".venv" / "bin" / "rapport"
TOKEN_LINE = re.compile(r"rpt_[0-9a-f]{8}_[A-Za-z0-9_-]{43}\n")
GOOD_PASSWORD = "tangerine-harbour-42"


@dataclass
class Run:
    """What a command did: its exit status and what it printed."""

    code: int
    out: str
    err: str


def rapport(*args: str) -> Run:
    """Run a management command as the ``rapport`` CLI would, catching its exit status."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


def me(secret: str) -> tuple[int, dict]:
    response = Client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    return response.status_code, response.json()


def counts() -> tuple[int, int, int, int]:
    return User.objects.count(), Team.objects.count(), PartnerOrganisation.objects.count(), ApiToken.objects.count()


# --- createuser ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", Role.values)
def test_createuser_creates_a_user_of_each_role_with_exactly_the_given_fields(db, role):
    partner_args = ["--partner", "Nordic Resellers"] if role == Role.PARTNER else ["--team", "Enterprise"]

    result = rapport(
        "createuser", "ada", "--role", role, "--email", "Ada.Lovelace@Example.COM", "--password", GOOD_PASSWORD,
        "--first-name", "Ada", "--last-name", "Lovelace", *partner_args,
    )  # fmt: skip

    assert result.code == 0, result.err
    user = User.objects.get(username="ada")
    assert (user.role, user.email, user.first_name, user.last_name) == (
        role,
        "ada.lovelace@example.com",
        "Ada",
        "Lovelace",
    )
    assert user.check_password(GOOD_PASSWORD)
    assert (user.is_staff, user.is_superuser) == ((role == Role.ADMIN),) * 2
    if role == Role.PARTNER:
        assert (user.team, user.partner_organisation.name) == (None, "Nordic Resellers")
        assert result.out == "Created user ada (partner, partner organisation Nordic Resellers).\n"
    else:
        assert (user.team.name, user.partner_organisation) == ("Enterprise", None)
        assert result.out == f"Created user ada ({role}, team Enterprise).\n"
    assert result.err == ""
    audit = AuditEntry.objects.get(object_type="user", object_id=user.pk)
    assert (audit.action, audit.via, audit.actor) == ("create", Via.CLI, None)


def test_createuser_reuses_an_existing_team_and_partner_organisation(db):
    rapport("createuser", "first", "--role", "sales_rep", "--team", "North")
    rapport("createuser", "p1", "--role", "partner", "--partner", "Acme Resellers")

    rapport("createuser", "second", "--role", "sales_rep", "--team", "North")
    rapport("createuser", "p2", "--role", "partner", "--partner", "Acme Resellers")

    assert Team.objects.get().members.count() == 2
    assert PartnerOrganisation.objects.get().users.count() == 2


def test_createuser_without_password_says_the_user_cannot_log_in_yet(db):
    result = rapport("createuser", "bob", "--role", "sales_rep")

    assert result.code == 0
    assert result.out == "Created user bob (sales_rep).\n"
    assert result.err == "bob can't log in until a password is set: run 'rapport changepassword bob'.\n"
    assert not User.objects.get(username="bob").has_usable_password()


def test_createuser_reads_the_password_from_stdin_when_given_a_dash(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{GOOD_PASSWORD}\n"))

    result = rapport("createuser", "carol", "--role", "marketing", "--password", "-")

    assert result.code == 0
    assert User.objects.get(username="carol").check_password(GOOD_PASSWORD)


def test_createuser_refuses_an_empty_password_from_stdin(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    result = rapport("createuser", "carol", "--role", "marketing", "--password", "-")

    assert result.code == 2
    assert "was empty; nothing was created" in result.err
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--role", "boss"],
            "Can't create user 'newbie': role: 'boss' is not a role; use one of: admin, marketing, sales_manager, "
            "sales_rep, service_agent, partner.",
        ),
        (
            ["--role", "partner"],
            "Can't create user 'newbie': partner: a partner user needs a partner organisation (--partner ORG).",
        ),
        (
            ["--role", "sales_rep", "--partner", "Acme"],
            "Can't create user 'newbie': partner: only users with the partner role belong to a partner organisation.",
        ),
        (
            ["--role", "sales_rep", "--password", "12345"],
            "Can't create user 'newbie': password: This password is too short. It must contain at least 10 "
            "characters. This password is too common. This password is entirely numeric.",
        ),
        (
            ["--role", "sales_rep", "--email", "not-an-email"],
            "Can't create user 'newbie': email: 'not-an-email' is not a valid email address: An email address must "
            "have an @-sign.",
        ),
    ],
    ids=["bad-role", "partner-without-organisation", "organisation-without-partner-role", "weak-password", "bad-email"],
)
def test_createuser_refuses_bad_input_with_one_sentence_and_creates_nothing(db, args, message):
    before = counts()

    result = rapport("createuser", "newbie", "--team", "Brand New Team", *args)

    assert (result.code, result.out, result.err) == (2, "", message + "\n")
    assert counts() == before
    assert not Team.objects.filter(name="Brand New Team").exists()


def test_createuser_refuses_a_username_taken_in_any_case(db):
    UserFactory(username="dana")
    before = counts()

    result = rapport("createuser", "DANA", "--role", "admin", "--team", "Brand New Team")

    assert (result.code, result.out, result.err) == (2, "", "A user named 'DANA' already exists.\n")
    assert counts() == before


# --- token ---------------------------------------------------------------------------------------------


@pytest.fixture
def dana(db) -> User:
    return UserFactory(username="dana", role=Role.SALES_REP)


def test_token_create_prints_only_the_token_and_stores_only_its_hash(dana):
    result = rapport("token", "create", "dana", "--scope", "write", "--name", "Zapier")

    assert result.code == 0
    assert TOKEN_LINE.fullmatch(result.out)
    secret = result.out.strip()
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (token.user, token.scope, token.name, token.prefix) == (dana, "write", "Zapier", secret[4:12])
    assert token.expires_at is None
    assert result.err == (f"Created a write token {token.prefix} for dana. It is shown only this once: store it now.\n")


def test_token_secret_is_nowhere_in_the_database(dana):
    secret = rapport("token", "create", "dana").out.strip()
    random_part = secret.rsplit("_", 1)[1]

    stored = [
        *ApiToken.objects.values_list("prefix", "key_hash", "name", "scope"),
        *AuditEntry.objects.values_list("changes", "note"),
    ]

    assert stored
    assert not [row for row in stored if random_part in repr(row) or secret in repr(row)]


def test_created_token_authenticates_the_api_with_its_scope(dana):
    secret = rapport("token", "create", "dana").out.strip()

    status, body = me(secret)

    assert status == 200
    assert (body["username"], body["token_scope"]) == ("dana", "read")


def test_token_create_with_expiry_sets_the_expiry_date(dana):
    before = timezone.now()
    result = rapport("token", "create", "dana", "--expires-days", "30")
    after = timezone.now()

    token = ApiToken.objects.get()
    assert result.code == 0
    assert before + dt.timedelta(days=30) <= token.expires_at <= after + dt.timedelta(days=30)
    assert ", expires " in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No user named 'nobody'; create one with 'rapport createuser'."),
        (
            ["dana", "--scope", "admin"],
            "Can't create a token for 'dana': --scope: 'admin' is not a scope; use read or write.",
        ),
        (
            ["dana", "--expires-days", "0"],
            "Can't create a token for 'dana': --expires-days: must be between 1 and 3650 days.",
        ),
    ],
    ids=["unknown-user", "bad-scope", "bad-expiry"],
)
def test_token_create_refuses_bad_input_and_creates_nothing(dana, args, message):
    result = rapport("token", "create", *args)

    assert (result.code, result.out, result.err) == (2, "", message + "\n")
    assert not ApiToken.objects.exists()


def test_token_create_refuses_a_deactivated_user(dana):
    User.objects.filter(pk=dana.pk).update(is_active=False)

    result = rapport("token", "create", "dana")

    assert (result.code, result.out) == (2, "")
    assert result.err == "Can't create a token for 'dana': user 'dana' is deactivated.\n"
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("reference", ["prefix", "secret"])
def test_revoked_token_no_longer_authenticates(dana, reference):
    secret = rapport("token", "create", "dana").out.strip()
    token = ApiToken.objects.get()

    result = rapport("token", "revoke", token.prefix if reference == "prefix" else secret)

    assert (result.code, result.out, result.err) == (0, f"Token {token.prefix} of dana is revoked.\n", "")
    token.refresh_from_db()
    assert token.revoked_at is not None
    status, body = me(secret)
    assert status == 401
    assert body["code"] == "unauthenticated"


def test_token_revoke_of_an_unknown_token_fails_with_exit_2(dana):
    result = rapport("token", "revoke", "deadbeef")

    assert (result.code, result.out) == (2, "")
    assert result.err == "No API token matches 'deadbeef'; see 'rapport token list' for the prefixes.\n"


def test_token_list_shows_every_token_with_its_status_and_never_a_secret(dana):
    other = UserFactory(username="erin")
    active = rapport("token", "create", "dana", "--scope", "write", "--name", "CI").out.strip()
    revoked = rapport("token", "create", "dana").out.strip()
    expired = rapport("token", "create", "erin", "--expires-days", "1").out.strip()
    rapport("token", "revoke", revoked)
    ApiToken.objects.filter(user=other).update(expires_at=timezone.now() - dt.timedelta(hours=1))

    result = rapport("token", "list")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["PREFIX", "USER", "SCOPE", "NAME", "CREATED", "LAST", "USED", "EXPIRES", "STATUS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {active[4:12], revoked[4:12], expired[4:12]}
    assert rows[active[4:12]].split()[1:4] == ["dana", "write", "CI"]
    assert rows[active[4:12]].endswith(" active")
    assert rows[revoked[4:12]].endswith(" revoked")
    assert rows[expired[4:12]].endswith(" expired")
    for secret in (active, revoked, expired):
        assert secret.rsplit("_", 1)[1] not in result.out


def test_token_list_records_last_use(dana):
    secret = rapport("token", "create", "dana").out.strip()
    me(secret)

    line = rapport("token", "list", "dana").out.splitlines()[1]

    assert (
        line.split()[6:8] == timezone.localtime(ApiToken.objects.get().last_used_at).strftime("%Y-%m-%d %H:%M").split()
    )


def test_token_list_of_one_user(dana):
    UserFactory(username="erin")
    rapport("token", "create", "dana")
    rapport("token", "create", "erin")

    result = rapport("token", "list", "erin")

    assert [line.split()[1] for line in result.out.splitlines()[1:]] == ["erin"]


def test_token_list_without_tokens_says_how_to_make_one(dana):
    result = rapport("token", "list", "dana")

    assert (result.code, result.out) == (0, "")
    assert result.err == "No API tokens for dana; create one with 'rapport token create USERNAME'.\n"


def test_token_list_of_an_unknown_user_fails_with_exit_2(dana):
    result = rapport("token", "list", "nobody")

    assert (result.code, result.out) == (2, "")
    assert result.err == "No user named 'nobody'; create one with 'rapport createuser'.\n"


# --- The real command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    """Environment for running the installed ``rapport`` against its own fresh SQLite database.

    The test database lives inside the test process (in memory on SQLite), so the real processes get a
    database of their own, migrated once for this module.
    """
    data_dir = tmp_path_factory.mktemp("cli")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rapport.settings",
        "RAPPORT_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'rapport.sqlite3'}",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "testserver",
    }
    env.pop("REDIS_URL", None)
    migrated = subprocess.run(
        [str(RAPPORT), "migrate", "--no-input", "-v", "0"], env=env, capture_output=True, text=True, timeout=240
    )
    assert migrated.returncode == 0, migrated.stderr
    return env


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RAPPORT), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def api_me_status(env: dict[str, str], secret: str) -> str:
    """Call ``GET /api/v1/me`` with the token through Django's test client inside the real installation."""
    script = (
        "from django.test import Client; "
        f"r = Client().get('/api/v1/me', headers={{'Authorization': 'Bearer {secret}'}}); "
        "print(r.status_code, r.json().get('username'), r.json().get('token_scope'))"
    )
    return cli(env, "shell", "-v", "0", "-c", script).stdout.strip()


@pytest.mark.skipif(not RAPPORT.exists(), reason="needs the project's virtual environment (make setup)")
def test_real_cli_creates_a_user_and_a_token_that_works_until_revoked(cli_env):
    created = cli(cli_env, "createuser", "dana", "--role", "sales_rep", "--team", "North", "--password", "-",
                  stdin=f"{GOOD_PASSWORD}\n")  # fmt: skip
    assert (created.returncode, created.stdout, created.stderr) == (
        0,
        "Created user dana (sales_rep, team North).\n",
        "",
    )

    made = cli(cli_env, "token", "create", "dana", "--scope", "write")

    assert made.returncode == 0, made.stderr
    assert TOKEN_LINE.fullmatch(made.stdout)  # the token, one newline, nothing else
    assert "shown only this once" in made.stderr
    secret = made.stdout.strip()
    database = Path(cli_env["RAPPORT_DATA_DIR"]) / "rapport.sqlite3"
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT prefix, key_hash, scope FROM core_apitoken").fetchall()
    assert rows == [(secret[4:12], hashlib.sha256(secret.encode()).hexdigest(), "write")]
    stored = b"".join(path.read_bytes() for path in database.parent.glob("rapport.sqlite3*"))
    assert secret.encode() not in stored
    assert secret.rsplit("_", 1)[1].encode() not in stored
    assert api_me_status(cli_env, secret) == "200 dana write"

    listed = cli(cli_env, "token", "list", "dana")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split()[:3] == [secret[4:12], "dana", "write"]
    assert listed.stdout.rstrip().endswith("active")
    assert secret.rsplit("_", 1)[1] not in listed.stdout

    revoked = cli(cli_env, "token", "revoke", secret[4:12])
    assert (revoked.returncode, revoked.stdout) == (0, f"Token {secret[4:12]} of dana is revoked.\n")
    assert api_me_status(cli_env, secret).startswith("401 ")


@pytest.mark.skipif(not RAPPORT.exists(), reason="needs the project's virtual environment (make setup)")
def test_real_cli_errors_are_one_sentence_on_stderr_with_exit_status_2(cli_env):
    bad_role = cli(cli_env, "createuser", "erin", "--role", "boss")
    bad_scope = cli(cli_env, "token", "create", "nobody-here")

    assert (bad_role.returncode, bad_role.stdout) == (2, "")
    assert bad_role.stderr.count("\n") == 1
    assert bad_role.stderr.startswith("Can't create user 'erin': role: 'boss' is not a role")
    assert (bad_scope.returncode, bad_scope.stdout) == (2, "")
    assert bad_scope.stderr == "No user named 'nobody-here'; create one with 'rapport createuser'.\n"


def test_rapport_is_the_python_module_too():
    """``python -m rapport`` runs the same commands (the DESIGN's stable CLI)."""
    result = subprocess.run(
        [sys.executable, "-m", "rapport", "help", "token"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "create|revoke|list" in result.stdout
