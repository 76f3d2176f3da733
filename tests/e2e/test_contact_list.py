"""The contact list in a real browser: filter chips, sorting, bulk actions and paging."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts import normalise
from rapport.contacts.models import Contact, LifecycleChange, LifecycleStage, Seniority
from rapport.core.models import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.browser

TITLES = [("Head of Marketing", Seniority.DIRECTOR), ("Account Executive", Seniority.IC), ("CFO", Seniority.C_LEVEL)]
COUNTRIES = ["DE", "FR", "GB", "US"]


def person(first: str, last: str, stage: str, n: int, **extra) -> Contact:
    """A contact with the columns of the list filled in, so that its screenshots look like real use."""
    title, seniority = TITLES[n % len(TITLES)]
    return ContactFactory(
        first_name=first,
        last_name=last,
        first_name_key=normalise.key(first),
        last_name_key=normalise.key(last),
        email=f"{first}.{last}@example.org".lower(),
        lifecycle_stage=stage,
        job_title=title,
        seniority=seniority,
        country=COUNTRIES[n % len(COUNTRIES)],
        **extra,
    )


def names_in(page: Page) -> list[str]:
    """The names in the list's rows, top to bottom, read from each row's "Select <name>" checkbox.

    Call it after an ``expect`` that waited for the list to change (htmx swaps it in place).
    """
    boxes = page.get_by_test_id("contact-table").get_by_role("checkbox", name=re.compile(r"^Select (?!every )"))
    return [(box.get_attribute("aria-label") or "").removeprefix("Select ") for box in boxes.all()]


def test_filter_sort_bulk_change_stage_and_page_through_the_contact_list(page: Page, transactional_db):
    # Given three customers and 52 leads: more than one page of 50
    sam = UserFactory(username="sam", first_name="Sam", last_name="Okafor", role=Role.SALES_MANAGER)
    engines = AccountFactory(name="Analytical Engines", name_key="analytical engines", domain="engines.example")
    for n, (first, last) in enumerate((("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing"))):
        person(first, last, LifecycleStage.CUSTOMER, n, account=engines, owner=sam)
    for i in range(52):
        person("Lee", f"Prospect{i:02d}", LifecycleStage.LEAD, i)
    log_in(page, "sam", PASSWORD)

    # When he opens the contact list
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Contacts").click()

    # Then it shows the count and the first 50, A to Z by last name
    count = page.get_by_test_id("list-count")
    expect(count).to_have_text("55 contacts")
    expect(page.get_by_text("50 on this page of 55")).to_be_visible()
    names = names_in(page)
    assert (len(names), names[:4]) == (50, ["Grace Hopper", "Ada Lovelace", "Lee Prospect00", "Lee Prospect01"])
    expect(page.get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "ascending")
    screenshot(page, "contact-list")

    # When he filters by the Customer stage
    page.get_by_role("button", name="Stage").click()
    page.get_by_role("checkbox", name="Customer").check()

    # Then the list shows the three customers, with a removable chip, and the filter is in the URL
    expect(count).to_have_text("3 contacts")
    chip = page.get_by_test_id("chip")
    expect(chip).to_have_text("Stage: Customer")
    expect(page).to_have_url(re.compile(r"/contacts/\?stage=customer$"))
    assert names_in(page) == ["Grace Hopper", "Ada Lovelace", "Alan Turing"]
    screenshot(page, "contact-list-filtered")

    # When he removes the chip, the whole list is back
    chip.get_by_role("link", name="Remove the filter Stage: Customer").click()
    expect(count).to_have_text("55 contacts")
    expect(chip).to_have_count(0)

    # When he sorts by the Name column's header, the order is reversed
    page.get_by_role("columnheader", name="Name").get_by_role("link").click()
    expect(page.get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "descending")
    expect(page).to_have_url(re.compile(r"/contacts/\?ordering=-name$"))
    assert names_in(page)[:3] == ["Alan Turing", "Lee Prospect51", "Lee Prospect50"]

    # When he ticks two contacts, the bulk bar appears; he sets their stage
    page.get_by_role("checkbox", name="Select Alan Turing").check()
    page.get_by_role("checkbox", name="Select Lee Prospect51").check()
    expect(page.get_by_text("2 selected")).to_be_visible()
    page.get_by_role("combobox", name="Stage").select_option(label="Sales qualified lead")
    screenshot(page, "contact-list-bulk")
    page.get_by_role("button", name="Set stage").click()

    # Then the list confirms it, in the same order, and the database has the new stages and their history
    expect(page.get_by_role("alert")).to_have_text("Moved 2 contacts to Sales qualified lead.")
    expect(page.get_by_role("columnheader", name="Name")).to_have_attribute("aria-sort", "descending")
    changed = Contact.objects.filter(lifecycle_stage=LifecycleStage.SQL).order_by("last_name")
    assert [c.last_name for c in changed] == ["Prospect51", "Turing"]
    assert LifecycleChange.objects.filter(contact__in=changed, to_stage=LifecycleStage.SQL).count() == 2
    assert Contact.objects.filter(lifecycle_stage=LifecycleStage.CUSTOMER).count() == 2
    assert Contact.objects.filter(lifecycle_stage=LifecycleStage.LEAD).count() == 51

    # When he goes to the next page, the last five contacts are there
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("5 on this page of 55")).to_be_visible()
    assert names_in(page) == ["Lee Prospect02", "Lee Prospect01", "Lee Prospect00", "Ada Lovelace", "Grace Hopper"]
    expect(page.get_by_role("link", name="Previous")).to_be_visible()
    expect(page.get_by_text("Next", exact=True)).to_have_attribute("aria-disabled", "true")
