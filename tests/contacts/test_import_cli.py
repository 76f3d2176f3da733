"""``rapport import contacts|accounts FILE``: the import engine from the command line."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rapport.contacts.models import Account, Contact, ImportJob
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RAPPORT = ROOT / ".venv" / "bin" / "rapport"
PEOPLE = "Email,First Name,Notes\nada@example.org,Ada,likes maths\nnot-an-email,Bob,\ncy@example.org,Cy,\n"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rapport_import(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> tuple[int, str]:
    """Run the command expecting it to stop with an exit code; return the code and what it wrote on stderr."""
    err = io.StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("import", *args, stdout=io.StringIO(), stderr=err)
    return caught.value.code, err.getvalue()


def test_importing_a_csv_prints_the_mapping_the_summary_and_the_rejected_rows_file(world, tmp_path, media_root):
    path = write(tmp_path, PEOPLE)

    out, err = rapport_import("contacts", str(path))

    job = ImportJob.objects.get()
    rejects = media_root / "imports" / str(job.pk) / "rejected.csv"
    assert out.splitlines() == [
        "Read people.csv: CSV, UTF-8, comma-separated, 92 bytes.",
        "Suggested mapping: Email → email; First Name → first_name.",
        "Ignored columns (not imported): Notes.",
        f"Import #{job.pk} of people.csv (contacts): 3 rows",
        "  created           2",
        "  updated           0",
        "  merged            0",
        "  skipped           0",
        "  rejected          1",
        f"Rejected rows, with their line numbers and reasons: {rejects}",
    ]
    assert err == ""  # not a terminal, and too quick for a progress line
    assert sorted(Contact.objects.values_list("email", flat=True)) == ["ada@example.org", "cy@example.org"]
    assert (job.via, job.created_by, job.status) == ("cli", None, ImportJob.Status.DONE)
    assert rejects.read_text(encoding="utf-8-sig").splitlines()[1] == (
        "not-an-email,Bob,,3,Email: 'not-an-email' is not a valid email address: An email address must have an @-sign."
    )


def test_a_mapping_file_chooses_the_columns_and_leaves_the_rest_out(world, tmp_path):
    path = write(tmp_path, PEOPLE)
    mapping = write(tmp_path, json.dumps({"Email": "email", "Notes": "job_title", "First Name": None}), "map.json")

    out, _ = rapport_import("contacts", str(path), "--mapping", str(mapping))

    assert out.splitlines()[1] == "Mapping: Email → email; Notes → job_title."
    assert out.splitlines()[2] == "Ignored columns (not imported): First Name."
    ada = Contact.objects.get(email="ada@example.org")
    assert (ada.first_name, ada.job_title) == ("", "likes maths")


def test_mode_match_user_and_provenance_options_are_used(world, tmp_path):
    existing = ContactFactory(external_id="X-1", email="x1@example.org", first_name="Old")
    path = write(tmp_path, "Record ID,First Name\nX-1,New\nX-2,Second\n")

    out, _ = rapport_import(
        "contacts", str(path), "--mode", "update", "--match", "external_id", "--user", "marketer",
        "--party", "second", "--source", "Acme Resellers",
    )  # fmt: skip

    job = ImportJob.objects.get()
    assert (job.mode, job.match_on, job.created_by, job.party, job.party_name) == (
        "update",
        "external_id",
        world.marketer,
        "second",
        "Acme Resellers",
    )
    assert job.summary() == {"rows": 2, "created": 0, "updated": 1, "merged": 0, "skipped": 1, "rejected": 0}
    existing.refresh_from_db()
    assert existing.first_name == "New"
    assert "Rejected rows" not in out


def test_a_dry_run_reports_counts_and_writes_nothing(world, tmp_path):
    path = write(tmp_path, PEOPLE)

    out, _ = rapport_import("contacts", str(path), "--dry-run")

    job = ImportJob.objects.get()
    assert out.splitlines()[3] == f"Import #{job.pk} of people.csv (contacts): 3 rows — dry run, nothing was written"
    assert out.splitlines()[4:9] == [
        "  created           2",
        "  updated           0",
        "  merged            0",
        "  skipped           0",
        "  rejected          1",
    ]
    assert Contact.objects.count() == 0
    assert job.dry_run is True


def test_accounts_are_imported_and_matched_on_domain_by_default(world, tmp_path):
    path = write(tmp_path, "Company Name,Website\nAcme,acme.example\nAcme Inc,www.acme.example\n", "companies.csv")

    out, _ = rapport_import("accounts", str(path))

    assert out.splitlines()[1] == "Suggested mapping: Company Name → name; Website → domain."
    assert list(Account.objects.values_list("name", "domain")) == [("Acme Inc", "acme.example")]
    assert ImportJob.objects.get().summary()["merged"] == 1


def test_progress_lines_are_written_when_stderr_is_not_a_terminal(world, tmp_path, monkeypatch):
    command = importlib.import_module("rapport.contacts.management.commands.import")  # "import" is a keyword
    monkeypatch.setattr(command.Progress, "LINE_EVERY_SECONDS", 0.0)
    path = write(tmp_path, PEOPLE)

    _, err = rapport_import("contacts", str(path))

    lines = err.splitlines()
    assert lines[-1].startswith("Importing: 100%  3 rows  ")
    assert lines[-1].endswith(" rows/s")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty."),
        ("email,first_name\n", "The file has a header line but no data rows."),
        ("Company,City\nAcme,Berlin\n", None),
    ],
    ids=["empty", "header-only", "no-usable-columns"],
)
def test_bad_files_are_refused_with_one_sentence_and_exit_code_2(world, tmp_path, text, message):
    path = write(tmp_path, text)

    code, err = refused("contacts", str(path))

    assert code == 2
    if message is None:
        message = (
            "The column mapping can't be used. Map at least one column to first name, last name, email or phone. "
            "To match on email, map a column to Email. Give a mapping with --mapping FILE.json."
        )
    assert err == message + "\n"
    assert ImportJob.objects.count() == 0


def test_bad_arguments_are_refused_with_one_sentence_and_exit_code_2(world, tmp_path):
    path = write(tmp_path, PEOPLE)
    broken = write(tmp_path, "{not json", "broken.json")
    not_an_object = write(tmp_path, '["email"]', "list.json")

    assert refused("contacts", str(tmp_path / "missing.csv")) == (
        2,
        f"There is no file at {tmp_path / 'missing.csv'}.\n",
    )
    assert refused("contacts", str(path), "--user", "nobody") == (
        2,
        "There is no active user 'nobody'; give the username of a Rapport user.\n",
    )
    assert refused("contacts", str(path), "--user", "rep") == (2, "rep's role (Sales rep) may not import records.\n")
    code, err = refused("contacts", str(path), "--mapping", str(broken))
    assert (code, err.startswith(f"The mapping file {broken} is not valid JSON (")) == (2, True)
    assert refused("contacts", str(path), "--mapping", str(not_an_object)) == (
        2,
        f'The mapping file {not_an_object} must hold one JSON object such as {{"E-mail": "email", "Notes": null}}.\n',
    )
    assert refused("contacts", str(path), "--party", "third") == (
        2,
        "The import options are not valid. Name the data provider the data comes from.\n",
    )
    assert refused("accounts", str(path), "--match", "email") == (
        2,
        "The import options are not valid. "
        "Accounts are matched on domain, external_id or name_company (the account's name).\n",
    )
    with pytest.raises(CommandError, match="invalid choice: 'merge'"):
        call_command("import", "contacts", str(path), "--mode", "merge")
    assert Contact.objects.count() == 0


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "RAPPORT_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'rapport.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "rapport.settings",
            "SECRET_KEY": "subprocess-test-secret-key-0123456789-0123456789-0123456789",
            "DEBUG": "0",
        }
    )
    return env


@pytest.mark.skipif(not RAPPORT.exists(), reason="needs the project's virtual environment")
def test_the_rapport_command_imports_a_file_and_refuses_bad_arguments(tmp_path):
    data_dir = tmp_path / "data"
    env = _environment(data_dir)
    migrate = subprocess.run([str(RAPPORT), "migrate", "-v", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert migrate.returncode == 0, migrate.stderr
    path = write(tmp_path, PEOPLE)

    done = subprocess.run(
        [str(RAPPORT), "import", "contacts", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    bad_mode = subprocess.run(
        [str(RAPPORT), "import", "contacts", str(path), "--mode", "merge"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[3:9] == [
        "Import #1 of people.csv (contacts): 3 rows",
        "  created           2",
        "  updated           0",
        "  merged            0",
        "  skipped           0",
        "  rejected          1",
    ]
    assert done.stdout.splitlines()[9] == (
        f"Rejected rows, with their line numbers and reasons: {data_dir / 'uploads' / 'imports' / '1' / 'rejected.csv'}"
    )
    assert bad_mode.returncode == 2
    assert bad_mode.stderr == (
        "rapport import: argument --mode: invalid choice: 'merge' (choose from 'create', 'update', 'upsert'); "
        "see 'rapport import --help'.\n"
    )
    assert bad_mode.stdout == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_bar_is_redrawn_in_place(world, tmp_path):
    path = write(tmp_path, PEOPLE)
    err = _Terminal()

    call_command("import", "contacts", str(path), stdout=io.StringIO(), stderr=err)

    output = err.getvalue()
    assert output.startswith("\r")
    assert "\r" + "█" * 30 + " 100%  3 rows  " in output
    assert output.endswith(" rows/s\n")
