"""Finding two duplicate contacts and merging them, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts import services
from rapport.contacts.models import Contact, DuplicateCandidate
from rapport.core.models import Role, Via
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.browser


def test_scan_review_and_merge_two_duplicates_keeping_a_value_from_the_other(page: Page, transactional_db):
    # Given two near-identical contacts at one company: the older misspelt, the newer with a job title
    admin = UserFactory(username="ines", first_name="Ines", role=Role.ADMIN)
    acme = AccountFactory(name="Acme", name_key="acme", domain="acme.com")
    older = services.contact_create(
        actor=admin,
        via=Via.PAGE,
        data={"first_name": "Jonathon", "last_name": "Smith", "email": "j.smith@acme.com", "account_id": acme.pk},
    )
    newer = services.contact_create(
        actor=admin,
        via=Via.PAGE,
        data={
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "jonathan.smith@acme.com",
            "account_id": acme.pk,
            "job_title": "CTO",
        },
    )
    log_in(page, "ines", PASSWORD)

    # When she opens the duplicates page from the contact list and runs a scan
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Duplicates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Duplicates")
    expect(page.get_by_text("No scan of contacts has run yet.")).to_be_visible()
    page.get_by_role("button", name="Scan contacts now").click()

    # Then the pair is listed with both contacts
    pair = page.get_by_test_id("duplicate-pair")
    expect(pair).to_have_count(1)
    expect(pair.get_by_role("link", name="Jonathon Smith")).to_be_visible()
    expect(pair.get_by_role("link", name="Jonathan Smith")).to_be_visible()
    expect(page.get_by_text("1 open pair")).to_be_visible()
    screenshot(page, "duplicates")

    # When she reviews the pair, the older contact survives by default
    pair.get_by_role("link", name="Review").click()
    candidate = DuplicateCandidate.objects.get()
    expect(page).to_have_url(url_path(f"/duplicates/{candidate.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Jonathon Smith and Jonathan Smith")
    expect(page.get_by_role("radio", name="Jonathon", exact=True)).to_be_checked()
    expect(page.get_by_role("radio", name="j.smith@acme.com")).to_be_checked()
    expect(page.get_by_role("radio", name="CTO")).to_be_checked()
    screenshot(page, "merge-review")

    # When she takes the first name from the other record and merges, confirming the question
    page.get_by_role("radio", name="Jonathan", exact=True).check()
    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name=f"Merge into Jonathon Smith (#{older.pk})").click()

    # Then she lands on the surviving contact, which has the chosen values
    expect(page).to_have_url(url_path(f"/contacts/{older.pk}/"))
    expect(page.get_by_role("alert")).to_contain_text(
        f"Merged the duplicate of Jonathan Smith into this contact (#{newer.pk} is kept as merged history)."
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Jonathan Smith")
    about = page.get_by_role("region", name="About this contact")
    expect(about.get_by_role("link", name="j.smith@acme.com")).to_be_visible()
    expect(page.get_by_text("CTO at Acme")).to_be_visible()
    assert questions == [
        f"Merge Jonathan Smith (#{newer.pk}) into Jonathon Smith (#{older.pk})? #{newer.pk} will disappear "
        "from lists and search; its values stay in the history."
    ]

    # And the other contact is gone from the contact list
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Contacts").click()
    expect(page.get_by_test_id("list-count")).to_have_text("1 contact")
    table = page.get_by_test_id("contact-table")
    expect(table.get_by_role("link", name=re.compile("Smith"))).to_have_text(["Jonathan Smith"])
    expect(table.get_by_role("link", name="Jonathan Smith")).to_have_attribute("href", f"/contacts/{older.pk}/")

    survivor = Contact.objects.get()
    assert (survivor.pk, survivor.first_name, survivor.email, survivor.job_title) == (
        older.pk,
        "Jonathan",
        "j.smith@acme.com",
        "CTO",
    )
    merged = Contact.all_objects.get(pk=newer.pk)
    assert merged.merged_into_id == older.pk
    assert merged.deleted_at is not None
    candidate.refresh_from_db()
    assert candidate.status == "merged"
