"""The global search box in the header, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts import services
from rapport.core.models import Role, Via
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.browser


def test_search_from_the_header_by_name_prefix_and_by_email_prefix(page: Page, transactional_db):
    # Given three contacts, two of them called Grace
    marketer = UserFactory(username="mara", first_name="Mara", role=Role.MARKETING)
    navy = AccountFactory(name="US Navy", name_key="us navy", domain="navy.example")
    hopper, kelly, _ = (
        services.contact_create(actor=marketer, via=Via.PAGE, data=data)
        for data in (
            {"first_name": "Grace", "last_name": "Hopper", "email": "grace.hopper@navy.example", "account_id": navy.pk},
            {"first_name": "Grace", "last_name": "Kelly", "email": "gk@monaco.example"},
            {"first_name": "Alan", "last_name": "Turing", "email": "alan@bletchley.example"},
        )
    )
    log_in(page, "mara", PASSWORD)
    header = page.get_by_role("navigation", name="Main navigation")
    box = header.get_by_role("searchbox", name="Search contacts and accounts")

    # When she types the start of a last name in the header's search box
    box.fill("hopp")

    # Then the drop-down shows that contact, with her email and company
    results = page.get_by_role("listbox", name="Search results")
    expect(results.get_by_role("option")).to_have_text(["Grace Hopper grace.hopper@navy.example · US Navy"])
    expect(results.get_by_role("link", name="See all results for “hopp”")).to_be_visible()
    screenshot(page, "search-dropdown")

    # When she clicks the contact, she is on its page
    results.get_by_role("option", name="Grace Hopper").click()
    expect(page).to_have_url(url_path(f"/contacts/{hopper.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")

    # When she searches by the start of an email address, from this page
    box.fill("gk@mon")

    # Then only the contact with that email is offered
    expect(results.get_by_role("option")).to_have_text(["Grace Kelly gk@monaco.example"])

    # When she presses Enter instead, the results page lists the same contact
    box.press("Enter")
    expect(page).to_have_url(url_path("/search/\\?q=gk%40mon"))
    table = page.get_by_test_id("search-contacts")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("link")).to_have_text(["Grace Kelly"])
    expect(table.get_by_role("link", name="Grace Kelly")).to_have_attribute("href", f"/contacts/{kelly.pk}/")

    # When she searches for a first name shared by two, both appear, and the company search finds the account
    box.fill("grace")
    expect(results.get_by_role("option")).to_have_text(
        [
            "Grace Hopper grace.hopper@navy.example · US Navy",
            "Grace Kelly gk@monaco.example",
        ]
    )
    box.fill("navy")
    expect(results.get_by_role("option")).to_have_text(
        ["Grace Hopper grace.hopper@navy.example · US Navy", "US Navy navy.example"]
    )
    # And Escape closes the drop-down
    box.press("Escape")
    expect(results).to_have_count(0)
