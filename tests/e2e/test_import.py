"""Importing a CSV file through the wizard in a real browser: upload, map, preview, run, summary."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts.models import Contact, ImportJob
from rapport.core.models import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

CSV = (
    "First Name,Last Name,Email Address,Job Title,Phone\n"
    "Grace,Hopper,grace@navy.example,Rear Admiral,+1 202 555 0101\n"
    "Alan,Turing,alan@bletchley.example,Head of Research,\n"
    "Katherine,Johnson,katherine.at.nasa,Mathematician,\n"
    "Linus,Torvalds,linus@kernel.example,Fellow,+1 503 555 0199\n"
)


def test_import_a_csv_with_a_bad_row_and_read_the_summary(page: Page, transactional_db, tmp_path, settings):
    # Given a marketer with a CSV of four people, one of them with a malformed email (line 4)
    # (uploads go to this test's own directory: parallel workers' import ids can coincide)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    UserFactory(username="mara", first_name="Mara", role=Role.MARKETING)
    upload = tmp_path / "webinar-attendees.csv"
    upload.write_text(CSV, encoding="utf-8")
    log_in(page, "mara", PASSWORD)

    # When she opens the (empty) contact list, it suggests importing; she uploads the file from there
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Contacts").click()
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_contain_text("No contacts yet")
    empty.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Import contacts or accounts")
    page.get_by_label("CSV or Excel file").set_input_files(upload)
    expect(page.get_by_label("The rows are")).to_have_value("contact")
    page.get_by_role("button", name="Upload and map columns").click()

    # Then the columns are matched to fields from their headers
    expect(page.get_by_role("heading", level=1)).to_have_text("Map the columns of webinar-attendees.csv")
    expect(page.get_by_label("Field for the column First Name")).to_have_value("first_name")
    expect(page.get_by_label("Field for the column Last Name")).to_have_value("last_name")
    expect(page.get_by_label("Field for the column Email Address")).to_have_value("email")
    expect(page.get_by_label("Field for the column Job Title")).to_have_value("job_title")
    expect(page.get_by_label("Field for the column Phone")).to_have_value("phone")
    screenshot(page, "import-map")

    # When she leaves the phone column out and goes on to the preview
    page.get_by_label("Field for the column Phone").select_option(label="Don't import")
    page.get_by_role("button", name="Preview the rows").click()

    # Then the preview shows the four rows, the bad one flagged with its problem
    expect(page.get_by_role("heading", level=1)).to_have_text("Preview of webinar-attendees.csv")
    expect(page.get_by_test_id("preview-summary")).to_have_text(
        re.compile(r"1 of the first 4 rows has problems and would be rejected; the other rows go in\.")
    )
    expect(page.get_by_test_id("preview-row")).to_have_count(3)
    problem = page.get_by_test_id("problem-row")
    expect(problem).to_have_count(1)
    expect(problem.get_by_role("cell")).to_have_text(
        [
            "4",
            "Katherine",
            "Johnson",
            "katherine.at.nasa",
            "Mathematician",
            "Email: 'katherine.at.nasa' is not a valid email address: An email address must have an @-sign.",
        ]
    )
    expect(page.get_by_text("Not imported: Phone.")).to_be_visible()
    screenshot(page, "import-preview")
    assert Contact.all_objects.count() == 0

    # When she starts the import (tests run the background task at once, so it finishes in the request)
    page.get_by_role("button", name="Start the import").click()

    # Then the summary shows exactly what happened
    job = ImportJob.objects.get()
    expect(page).to_have_url(url_path(f"/imports/{job.pk}/"))
    expect(page.get_by_text("Done", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("The import is done: 4 rows read, 3 created, 1 rejected.")
    expect(page.get_by_test_id("count-rows")).to_have_text("4")
    expect(page.get_by_test_id("count-created")).to_have_text("3")
    expect(page.get_by_test_id("count-updated")).to_have_text("0")
    expect(page.get_by_test_id("count-merged")).to_have_text("0")
    expect(page.get_by_test_id("count-skipped")).to_have_text("0")
    expect(page.get_by_test_id("count-rejected")).to_have_text("1")
    screenshot(page, "import-summary")

    # And the rejected rows download as a CSV with the bad row's line number and reason
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Download the rejected rows")).click()
    download = download_info.value
    assert download.suggested_filename == "webinar-attendees-rejected.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8-sig"))))
    assert rows == [
        {
            "First Name": "Katherine",
            "Last Name": "Johnson",
            "Email Address": "katherine.at.nasa",
            "Job Title": "Mathematician",
            "Phone": "",
            "line": "4",
            "reason": "Email: 'katherine.at.nasa' is not a valid email address: An email address must have an @-sign.",
        }
    ]

    # And the database holds the three good contacts, without phones (the column was left out)
    assert sorted(Contact.objects.values_list("email", "job_title", "phone")) == [
        ("alan@bletchley.example", "Head of Research", ""),
        ("grace@navy.example", "Rear Admiral", ""),
        ("linus@kernel.example", "Fellow", ""),
    ]
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected) == (ImportJob.Status.DONE, 3, 1)

    # When she opens an imported contact's history, it names the import, linked to its page
    grace = Contact.objects.get(email="grace@navy.example")
    page.goto(grace.get_absolute_url())
    page.get_by_role("tab", name="History").click()
    entry = page.get_by_test_id("history-import")
    expect(entry).to_have_text(
        f"Created by import #{job.pk} (webinar-attendees.csv). Its values are on the record, and "
        "“Where the data came from” names their source."
    )
    screenshot(page, "contact-history-imported")
    entry.get_by_role("link", name=f"import #{job.pk} (webinar-attendees.csv)").click()
    expect(page).to_have_url(url_path(f"/imports/{job.pk}/"))
