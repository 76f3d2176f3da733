"""The account list on a 1280 px laptop screen, in a real browser: every default column in view, long names
cut with the whole text on hover, and one scrollbar (the page's) with the header kept in sight."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts.models import Account, LifecycleStage, SizeBand
from rapport.core.models import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.browser

LONG_NAME = "Abercrombie Consolidated Interplanetary Freight and Logistics Holdings International"
LONG_DOMAIN = "consolidated-interplanetary-freight-and-logistics.example"


def box(page: Page, selector: str) -> dict[str, float]:
    """An element's position in the viewport (after any scrolling)."""
    return page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, right: r.right}; }",
    )


def test_the_default_columns_fit_a_laptop_screen_and_the_header_stays_in_sight(page: Page, transactional_db):
    # Given a sales manager and 60 accounts, one with a very long name and domain, all with an owner
    owner = UserFactory(username="bartholomew", first_name="Bartholomew", last_name="Featherstonehaugh")
    UserFactory(username="sam", first_name="Sam", role=Role.SALES_MANAGER)
    AccountFactory(
        name=LONG_NAME,
        name_key=LONG_NAME.lower(),
        domain=LONG_DOMAIN,
        industry="Transportation, Logistics, Supply Chain and Storage",
        size_band=SizeBand.S6,
        country="DE",
        owner=owner,
        lifecycle_stage=LifecycleStage.CUSTOMER,
    )
    for i in range(59):
        AccountFactory(
            name=f"Account {i:02d}",
            name_key=f"account {i:02d}",
            domain=f"account{i:02d}.example",
            industry="Manufacturing",
            country="FR",
            owner=owner,
        )
    log_in(page, "sam", PASSWORD)

    # When he opens the account list on a 1280 px wide screen
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Accounts").click()
    expect(page.get_by_test_id("list-count")).to_have_text("60 accounts")
    table = page.get_by_test_id("account-table")

    # Then every default column is in view without scrolling sideways; Partner waits in the column chooser
    headers = table.get_by_role("columnheader")
    expect(headers).to_have_text(
        ["", "Name", "Domain", "Industry", "Size", "Country", "Owner", "Stage", "Contacts", "Updated"]
    )
    assert box(page, "[data-testid=account-table] thead th:last-child")["right"] <= 1280
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    page.get_by_role("button", name="Columns").click()
    expect(page.get_by_role("checkbox", name="Partner")).not_to_be_checked()
    page.keyboard.press("Escape")
    page.get_by_role("heading", level=1).click()  # (so the screenshot shows no focus ring)

    # And the long name and domain are cut short, with the whole text on hover
    expect(table.get_by_role("cell", name=LONG_NAME, exact=True)).to_have_attribute("title", LONG_NAME)
    expect(table.get_by_role("cell", name=LONG_DOMAIN, exact=True)).to_have_attribute("title", LONG_DOMAIN)
    name_cell = page.locator("[data-testid=account-table] td[title]").first
    assert name_cell.evaluate("el => el.scrollWidth > el.clientWidth")  # cut, with an ellipsis
    screenshot(page, "account-list-internal")

    # When he scrolls down the page, the page scrolls (not a box inside it) and the header stays under the navbar
    wrapper = page.locator(".table-scroll")
    assert wrapper.evaluate("el => el.scrollHeight <= el.clientHeight")  # nothing scrolls inside the box
    page.mouse.wheel(0, 1200)
    page.wait_for_function("window.scrollY > 600")
    navbar_bottom = box(page, "body > nav")["bottom"]
    assert box(page, "[data-testid=account-table] thead th:nth-child(2)")["top"] == pytest.approx(navbar_bottom, abs=1)

    # When he ticks a row, the bulk bar sticks under the navbar and the header under the bulk bar
    table.get_by_role("checkbox", name="Select Account 30").check()
    expect(page.get_by_text("1 selected")).to_be_visible()
    page.wait_for_function(
        "document.querySelector('#bulk-form').style.getPropertyValue('--rapport-bulk-bar-height') !== '0px'"
    )
    page.mouse.wheel(0, 300)
    bar = box(page, ".bulk-bar")
    assert bar["top"] == pytest.approx(navbar_bottom, abs=1)
    header_top = box(page, "[data-testid=account-table] thead th:nth-child(2)")["top"]
    assert bar["bottom"] - 1 <= header_top <= bar["bottom"] + 10  # the bar's bottom margin may sit between


def test_on_a_narrow_screen_the_table_scrolls_sideways_in_its_box(page: Page, transactional_db):
    # Given a sales manager with one account, on a tablet-sized screen
    UserFactory(username="sam", first_name="Sam", role=Role.SALES_MANAGER)
    AccountFactory(name=LONG_NAME, name_key=LONG_NAME.lower(), domain=LONG_DOMAIN)
    page.set_viewport_size({"width": 800, "height": 800})
    log_in(page, "sam", PASSWORD)

    # When he opens the account list with every column
    page.goto(
        "/accounts/?cols=name,domain,industry,size,country,owner,partner,stage,contacts,updated,city,revenue,created"
    )

    # Then the table scrolls inside its box and the page itself stays as wide as the screen
    expect(page.get_by_test_id("list-count")).to_have_text("1 account")
    assert page.locator(".table-scroll").evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
    assert Account.objects.count() == 1
