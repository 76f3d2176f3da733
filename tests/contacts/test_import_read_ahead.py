"""Large imports read and clean the next batch in a forked process while this one writes: the outcome must
be exactly what reading in one process gives, failures must keep what was committed, and a retry after a
concurrent writer must not lose or double a row."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest

from rapport.contacts import importing, services
from rapport.contacts.models import Account, Contact, ImportJob
from tests.contacts.test_importing import counts, create, rejected_rows, write
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(params=["in_process", "read_ahead"])
def reading(request, monkeypatch, tmp_path):
    """Run each test both ways, and record which processes cleaned rows (``pids()``)."""
    monkeypatch.setattr(importing, "BATCH_SIZE", 4)
    monkeypatch.setattr(importing, "READ_AHEAD_BYTES", 0 if request.param == "read_ahead" else 10**12)
    log = tmp_path / "pids.txt"
    real_prepare = importing.contacts_prepare

    def logging_prepare(*args: Any, **kwargs: Any) -> Any:
        with log.open("a") as out:  # the forked reader's memory is its own: it reports through a file
            out.write(f"{os.getpid()}\n")
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(importing, "contacts_prepare", logging_prepare)

    class Reading:
        mode = request.param

        @staticmethod
        def other_pids() -> set[int]:
            pids = {int(p) for p in log.read_text().split()} if log.exists() else set()
            return pids - {os.getpid()}

    return Reading


def mapped_job(world: Any, path: Path) -> ImportJob:
    job = create(world.marketer, path)
    importing.import_mapping_save(
        actor=world.marketer,
        job_id=job.pk,
        mapping={
            "Email": "email",
            "First Name": "first_name",
            "Company": "company",
            "Account": "account_id",
            "Owner": "owner",
            "Tags": "tags",
        },
    )
    return job


def test_reading_ahead_imports_exactly_what_reading_in_one_process_does(world, tmp_path, reading):
    world.rep.first_name, world.rep.last_name = "Rita", "Rep"
    world.rep.save()
    acme = AccountFactory(name="Acme")
    ContactFactory(email="old@example.org", first_name="Old")
    path = write(
        tmp_path,
        "Email,First Name,Company,Account,Owner,Tags\n"
        "ann@example.org,Ann,Globex,,Rita Rep,vip;fair\n"  # line 2
        "old@example.org,Old Updated,,,,\n"
        "bad-email,Bad,,,,\n"  # line 4: rejected while cleaning (in the reader when reading ahead)
        f"bo@example.org,Bo,,{acme.pk},manager,\n"  # line 5: the account id needs the database
        "cy@example.org,Cy,,999999,,\n"  # line 6: no such account, found out by the writer
        "ann@example.org,Ann Again,,,,fair\n"  # line 7: the same person again, in a later batch
        "di@example.org,Di,,,Nobody Known,\n"  # line 8: no such user
        "ed@example.org,Ed,,,,,one cell too many\n"  # line 9: the wrong width
        "\n"
        "fay@example.org,Fay,Globex,,rep,\n",  # line 11: the same new account as line 2
    )
    job = mapped_job(world, path)

    job = importing.import_run(job_id=job.pk)

    assert (job.status, job.error) == (ImportJob.Status.DONE, "")
    assert counts(job) == {"rows": 9, "created": 3, "updated": 1, "merged": 1, "skipped": 0, "rejected": 4}
    assert (job.bytes_read, job.lines_read) == (path.stat().st_size, 11)
    people = {c.email: c for c in Contact.objects.select_related("account", "owner")}
    assert sorted(people) == ["ann@example.org", "bo@example.org", "fay@example.org", "old@example.org"]
    assert people["ann@example.org"].first_name == "Ann Again"
    assert people["old@example.org"].first_name == "Old Updated"
    globex = Account.objects.get(name="Globex")
    assert [people[e].account_id for e in ("ann@example.org", "bo@example.org", "fay@example.org")] == [
        globex.pk,
        acme.pk,
        globex.pk,
    ]
    assert [people[e].owner_id for e in ("ann@example.org", "bo@example.org", "fay@example.org")] == [
        world.rep.pk,
        world.manager.pk,
        world.rep.pk,
    ]
    assert sorted(people["ann@example.org"].tags.values_list("name", flat=True)) == ["fair", "vip"]
    assert [row[-2:] for row in rejected_rows(job)] == [
        ["line", "reason"],
        ["4", "Email: 'bad-email' is not a valid email address: An email address must have an @-sign."],
        ["6", "Account id: no account with id 999999."],
        ["8", "Owner: no active user 'Nobody Known'; use an id, username or email of a Rapport user."],
        ["9", "The row has 7 values but the header has 6 columns; quote values that contain the delimiter."],
    ]
    if reading.mode == "read_ahead":
        assert len(reading.other_pids()) == 1  # one reader process cleaned the rows
    else:
        assert reading.other_pids() == set()


@pytest.fixture
def small_field_limit():
    before = csv.field_size_limit(1000)
    yield
    csv.field_size_limit(before)


def test_an_unreadable_record_stops_the_import_after_committing_the_rows_before_it(
    world, tmp_path, reading, small_field_limit
):
    good = "".join(f"p{n}@example.org,P{n}\n" for n in range(10))  # lines 2-11
    path = write(tmp_path, "email,first_name\n" + good + 'q@example.org,"Q\n' + "x@example.org,X\n" * 100)

    job = importing.import_run(job_id=create(world.marketer, path).pk)

    assert job.status == ImportJob.Status.FAILED
    assert job.error.startswith("Line 12 can't be read as CSV (field larger than field limit (1000))")
    assert Contact.objects.count() == 10
    assert (job.rows_done, job.created, job.lines_read) == (10, 10, 11)


@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_reader_that_fails_fails_the_import_and_a_rerun_carries_on(world, tmp_path, monkeypatch, how):
    monkeypatch.setattr(importing, "BATCH_SIZE", 4)
    monkeypatch.setattr(importing, "READ_AHEAD_BYTES", 0)
    parent = os.getpid()
    real_prepare = importing.contacts_prepare

    def failing_prepare(rows: Any, **kwargs: Any) -> Any:
        if os.getpid() != parent and any(values.get("email") == "p9@example.org" for _, values in rows):
            if how == "dies":
                os._exit(3)
            raise MemoryError("out of memory")
        return real_prepare(rows, **kwargs)

    monkeypatch.setattr(importing, "contacts_prepare", failing_prepare)
    path = write(tmp_path, "email,first_name\n" + "".join(f"p{n}@example.org,P{n}\n" for n in range(12)))
    job = create(world.marketer, path)

    with pytest.raises(RuntimeError):
        importing.import_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    reason = (
        "MemoryError: out of memory" if how == "raises" else "the process reading the file ahead stopped unexpectedly"
    )
    assert reason in job.error
    # The reader's first batch holds 4 // 5 -> 4 rows, then 4 a batch: p9 is in the third.
    assert (job.rows_done, Contact.objects.count()) == (8, 8)

    monkeypatch.setattr(importing, "contacts_prepare", real_prepare)
    job = importing.import_run(job_id=job.pk)

    assert (job.status, job.created, Contact.objects.count()) == (ImportJob.Status.DONE, 12, 12)


def test_a_batch_a_concurrent_writer_collides_with_is_retried_row_by_row(world, tmp_path, monkeypatch, reading):
    """Another writer creates cy@example.org after the batch looked its keys up: the batch's insert fails,
    and row by row the rows still go in, with cy's row updating the contact the other writer made."""
    real_accounts = services._accounts_for_companies
    collisions = {"n": 0}

    def concurrent_writer(*args: Any, **kwargs: Any) -> Any:
        if not Contact.objects.filter(email="cy@example.org").exists():
            collisions["n"] += 1
            ContactFactory(email="cy@example.org", first_name="From elsewhere")
        return real_accounts(*args, **kwargs)

    monkeypatch.setattr(services, "_accounts_for_companies", concurrent_writer)
    acme = AccountFactory(name="Acme")
    path = write(
        tmp_path,
        "Email,First Name,Company,Account,Owner,Tags\n"
        "ann@example.org,Ann,,,,\n"
        "bad,Bad,,,,\n"
        f"cy@example.org,Cy,,{acme.pk},,vip\n"
        "di@example.org,Di,,,,\n",
    )
    job = mapped_job(world, path)

    job = importing.import_run(job_id=job.pk)

    # The batch's own attempt collided and rolled back; the first row-by-row attempt made cy for good.
    assert collisions["n"] == 2
    assert counts(job) == {"rows": 4, "created": 2, "updated": 1, "merged": 0, "skipped": 0, "rejected": 1}
    people = dict(Contact.objects.values_list("email", "first_name"))
    assert people == {"ann@example.org": "Ann", "cy@example.org": "Cy", "di@example.org": "Di"}
    cy = Contact.objects.get(email="cy@example.org")
    assert (cy.account_id, list(cy.tags.values_list("name", flat=True))) == (acme.pk, ["vip"])
    assert [row[-2] for row in rejected_rows(job)[1:]] == ["3"]
