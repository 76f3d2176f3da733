"""The import wizard pages: upload, map, preview, progress, summary, rejected rows, history and who may see what."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from rapport.contacts.importing import import_job_create, import_run
from rapport.contacts.models import Contact, ImportJob
from rapport.core.models import Via

pytestmark = pytest.mark.django_db

PEOPLE = (
    "First Name,Last Name,Email,Phone Number,Favourite colour\n"
    "Ada,Lovelace,ada@example.org,+44 20 7946 0000,green\n"
    "Bob,Bad,not-an-email,,blue\n"
    "Cy,Young,cy@example.org,,red\n"
    "Ada,L.,ADA@example.org,,green\n"
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def upload(client: Any, text: str = PEOPLE, name: str = "people.csv", **fields: str) -> Any:
    data = {
        "file": SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv"),
        "object_type": "contact",
        "mode": "upsert",
        "match_on": "email",
        "party": "first",
        "party_name": "",
        **fields,
    }
    return client.post(reverse("contacts:import_start"), data)


def job_of(user: Any, text: str = PEOPLE, tmp_path: Path | None = None) -> ImportJob:
    assert tmp_path is not None
    path = tmp_path / "file.csv"
    path.write_text(text, encoding="utf-8")
    return import_job_create(
        actor=user, via=Via.PAGE, object_type="contact", original_name="file.csv", source_path=path
    )


def test_the_whole_wizard_from_upload_to_summary_and_rejected_rows(
    world, logged_in, django_capture_on_commit_callbacks
):
    client = logged_in(world.marketer)

    # Given an uploaded file
    page = client.get(reverse("contacts:import_start"))
    assert page.status_code == 200
    assert b'enctype="multipart/form-data"' in page.content
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("contacts:import_map", args=[job.pk])
    assert (job.created_by, job.via, job.status) == (world.marketer, Via.PAGE, ImportJob.Status.UPLOADED)

    # When the user looks at the suggested mapping, with sample values
    page = client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('data-testid="mapping-row"') == 5
    assert '<option value="email" selected>Email</option>' in html
    assert '<option value="phone" selected>Phone</option>' in html
    assert ">green</span>" in html and ">blue</span>" in html and ">red</span>" in html
    assert "4 of 5 columns are mapped" in html.replace('<span class="num">', "").replace("</span>", "")

    # and keeps it, leaving the colour out
    response = client.post(
        page.request["PATH_INFO"],
        {"col-0": "first_name", "col-1": "last_name", "col-2": "email", "col-3": "phone", "col-4": ""},
    )
    assert response.status_code == 302
    assert response.url == reverse("contacts:import_preview", args=[job.pk])

    # Then the preview shows the rows with the bad one highlighted, and writes nothing
    page = client.get(response.url)
    html = page.content.decode()
    assert html.count('data-testid="problem-row"') == 1
    assert html.count('data-testid="preview-row"') == 3
    assert "of the first" in html and ">1</strong>" in html
    assert "+442079460000" in html
    assert "Not imported: Favourite colour." in html
    assert Contact.objects.count() == 0

    # When the import is started, it runs in the background once the request's transaction commits
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse("contacts:import_preview", args=[job.pk]))
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert response.url == reverse("contacts:import_detail", args=[job.pk])

    # Then the summary shows the counts and offers the rejected rows
    job.refresh_from_db()
    assert job.summary() == {"rows": 4, "created": 2, "updated": 0, "merged": 1, "skipped": 0, "rejected": 1}
    page = client.get(response.url)
    html = page.content.decode()
    assert 'data-testid="count-created">2<' in html
    assert 'data-testid="count-merged">1<' in html
    assert 'data-testid="count-rejected">1<' in html
    assert reverse("contacts:import_rejected", args=[job.pk]) in html
    assert 'hx-trigger="every 1s"' not in html  # finished: no more polling

    download = client.get(reverse("contacts:import_rejected", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="people-rejected.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig"))))
    assert rows == [
        ["First Name", "Last Name", "Email", "Phone Number", "Favourite colour", "line", "reason"],
        [
            "Bob",
            "Bad",
            "not-an-email",
            "",
            "blue",
            "3",
            "Email: 'not-an-email' is not a valid email address: An email address must have an @-sign.",
        ],
    ]


def test_the_progress_fragment_polls_every_second_until_the_import_is_done(world, logged_in, tmp_path):
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, bytes_read=job.file_size // 2)

    running = client.get(reverse("contacts:import_progress", args=[job.pk]), headers={"HX-Request": "true"})
    detail = client.get(reverse("contacts:import_detail", args=[job.pk]))

    html = running.content.decode()
    assert f'hx-get="{reverse("contacts:import_progress", args=[job.pk])}" hx-trigger="every 1s"' in html
    assert 'aria-valuenow="49"' in html
    assert "You can leave this page" in html
    assert '<span id="import-status" hx-swap-oob="true"><span class="badge text-bg-primary">Running</span>' in html
    assert 'hx-trigger="every 1s"' in detail.content.decode()  # coming back to the page resumes polling

    import_run(job_id=job.pk)  # picks up where the "running" job stood: nothing was committed
    done = client.get(reverse("contacts:import_progress", args=[job.pk]), headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.content.decode()
    assert 'data-testid="count-rows">4<' in done.content.decode()


def test_an_unusable_upload_is_refused_on_the_form(world, logged_in):
    client = logged_in(world.marketer)

    empty = upload(client, text="")
    header_only = upload(client, text="email\n")
    third_party = upload(client, party="third")

    assert empty.status_code == 200
    assert "The file is empty." in empty.content.decode()
    assert "The file has a header line but no data rows." in header_only.content.decode()
    assert "Name the data provider the data comes from." in third_party.content.decode()
    assert ImportJob.objects.count() == 0


def test_accounts_matched_on_the_email_choice_match_on_domain(world, logged_in):
    client = logged_in(world.marketer)

    upload(client, text="Company,Website\nAcme,acme.example\n", object_type="account", match_on="email")

    assert ImportJob.objects.get().match_on == "domain"


def test_a_mapping_that_cant_be_used_is_shown_with_its_problems(world, logged_in, tmp_path):
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)

    response = client.post(
        reverse("contacts:import_map", args=[job.pk]),
        {"col-0": "email", "col-1": "email", "col-2": "", "col-3": "", "col-4": ""},
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert (
        "Column &#x27;Last Name&#x27; is mapped to Email, which is already chosen for column &#x27;First Name&#x27;."
        in html
    )
    job.refresh_from_db()
    assert job.mapping == {
        "First Name": "first_name",
        "Last Name": "last_name",
        "Email": "email",
        "Phone Number": "phone",
    }


def test_a_failed_import_shows_why_and_can_carry_on(world, logged_in, tmp_path, django_capture_on_commit_callbacks):
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error="The worker was stopped.")

    page = client.get(reverse("contacts:import_detail", args=[job.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(reverse("contacts:import_detail", args=[job.pk]), {"action": "resume"})

    assert "The worker was stopped." in page.content.decode()
    assert 'value="resume"' in page.content.decode()
    assert resumed.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created, job.error) == (ImportJob.Status.DONE, 2, "")


def test_an_import_can_be_removed_from_the_history(
    world, logged_in, tmp_path, media_root, django_capture_on_commit_callbacks
):
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)
    directory = media_root / "imports" / str(job.pk)
    assert directory.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("contacts:import_detail", args=[job.pk]), {"action": "delete"})

    assert response.status_code == 302
    assert response.url == reverse("contacts:import_list")
    assert not ImportJob.objects.exists()
    assert not directory.exists()


def test_the_history_lists_ones_own_imports_and_an_admin_sees_all(
    world, logged_in, tmp_path, django_assert_max_num_queries
):
    mine = job_of(world.marketer, tmp_path=tmp_path)
    theirs = job_of(world.manager, tmp_path=tmp_path)
    import_run(job_id=mine.pk)
    client = logged_in(world.marketer)

    with django_assert_max_num_queries(3):
        page = client.get(reverse("contacts:import_list"))

    html = page.content.decode()
    assert html.count('data-testid="import-row"') == 1
    assert reverse("contacts:import_detail", args=[mine.pk]) in html
    assert reverse("contacts:import_detail", args=[theirs.pk]) not in html
    client.force_login(world.admin)
    with django_assert_max_num_queries(3):
        page = client.get(reverse("contacts:import_list"))
    assert page.content.decode().count('data-testid="import-row"') == 2


def test_the_history_is_empty_with_a_way_to_start(world, logged_in):
    page = logged_in(world.manager).get(reverse("contacts:import_list"))

    assert "No imports yet." in page.content.decode()
    assert reverse("contacts:import_start") in page.content.decode()


@pytest.mark.parametrize("role", ["marketer", "admin", "manager"])
def test_marketing_admins_and_sales_managers_may_import(world, logged_in, role):
    client = logged_in(getattr(world, role))

    assert client.get(reverse("contacts:import_start")).status_code == 200
    assert client.get(reverse("contacts:import_list")).status_code == 200
    assert upload(client).status_code == 302


@pytest.mark.parametrize("role", ["rep", "agent", "partner"])
def test_reps_service_agents_and_partners_are_refused(world, logged_in, tmp_path, role):
    job = job_of(world.marketer, tmp_path=tmp_path)
    client = logged_in(getattr(world, role))

    pages = [
        client.get(reverse("contacts:import_list")),
        client.get(reverse("contacts:import_start")),
        upload(client),
        client.get(reverse("contacts:import_detail", args=[job.pk])),
        client.get(reverse("contacts:import_progress", args=[job.pk])),
        client.get(reverse("contacts:import_map", args=[job.pk])),
    ]

    assert [page.status_code for page in pages] == [403] * 6
    assert "Your role may not import records" in pages[0].content.decode()
    assert ImportJob.objects.count() == 1


def test_another_users_import_is_not_found_but_an_admin_sees_it(world, logged_in, tmp_path):
    job = job_of(world.manager, tmp_path=tmp_path)
    import_run(job_id=job.pk)
    client = logged_in(world.marketer)

    urls = [
        reverse("contacts:import_detail", args=[job.pk]),
        reverse("contacts:import_progress", args=[job.pk]),
        reverse("contacts:import_map", args=[job.pk]),
        reverse("contacts:import_preview", args=[job.pk]),
        reverse("contacts:import_rejected", args=[job.pk]),
    ]

    assert [client.get(url).status_code for url in urls] == [404] * 5
    assert client.post(urls[0], {"action": "delete"}).status_code == 404
    client.force_login(world.admin)
    assert client.get(urls[0]).status_code == 200
    assert client.get(urls[4]).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("contacts:import_list"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_stalled_import_offers_to_carry_on(world, logged_in, tmp_path, django_capture_on_commit_callbacks):
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, updated_at=long_ago)

    page = client.get(reverse("contacts:import_detail", args=[job.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("contacts:import_detail", args=[job.pk]), {"action": "resume"})

    assert "the background worker may have stopped" in page.content.decode()
    job.refresh_from_db()
    assert (job.status, job.rows_done) == (ImportJob.Status.DONE, 4)


def messages_on(page: Any) -> list[str]:
    return [str(m) for m in page.context["messages"]]


def test_an_import_still_queued_after_starting_says_it_carries_on_in_the_background(
    world, logged_in, tmp_path, django_capture_on_commit_callbacks
):
    # Given a job whose task runs only after the request (as with a real worker)
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)

    # When the user starts it
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("contacts:import_preview", args=[job.pk]))
    page = client.get(response.url)

    # Then the message says it has started, beside a "Queued" badge and no counts yet
    assert messages_on(page) == ["The import has started. You can leave this page; it carries on in the background."]
    html = page.content.decode()
    assert '<span class="badge text-bg-secondary">Queued</span>' in html
    assert 'data-testid="import-summary"' not in html


@pytest.mark.django_db(transaction=True)
def test_an_import_that_finished_before_the_redirect_says_it_is_done_with_its_counts(world, logged_in, tmp_path):
    # Given a job, and a queue that runs it as soon as the request commits
    client = logged_in(world.marketer)
    job = job_of(world.marketer, tmp_path=tmp_path)

    # When the user starts it
    response = client.post(reverse("contacts:import_preview", args=[job.pk]))
    page = client.get(response.url)

    # Then the message is about a finished import, not one carrying on in the background
    assert messages_on(page) == ["The import is done: 4 rows read, 2 created, 1 merged, 1 rejected."]
    assert '<span class="badge text-bg-success">Done</span>' in page.content.decode()
    assert "in the background" not in page.content.decode()


@pytest.fixture
def small_field_limit():
    """Make the CSV reader's field limit small, so a runaway quoted field hits it soon."""
    before = csv.field_size_limit(1000)
    yield
    csv.field_size_limit(before)


@pytest.mark.django_db(transaction=True)
def test_an_import_that_failed_before_the_redirect_says_so_and_shows_the_error(
    world, logged_in, tmp_path, small_field_limit
):
    # Given a file whose third line opens a quote that never closes
    client = logged_in(world.marketer)
    text = 'Email,First Name\na@example.org,Ann\nb@example.org,"Bob\n' + "x@example.org,X\n" * 100
    job = job_of(world.marketer, text=text, tmp_path=tmp_path)

    # When the user starts it
    response = client.post(reverse("contacts:import_preview", args=[job.pk]))
    page = client.get(response.url)

    # Then the message says it stopped, and the page shows why, with a way to carry on
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert messages_on(page) == ["The import stopped. The reason, and a way to carry on, are below."]
    html = page.content.decode()
    assert '<span class="badge text-bg-danger">Failed</span>' in html
    assert html_escape(job.error) in html
    assert 'value="resume"' in html
