"""A partner sees only the accounts shared with their organisation, and their contacts, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts import services
from rapport.contacts.models import Account, Contact
from rapport.core.models import Via
from tests.conftest import PASSWORD, World
from tests.e2e.conftest import log_in, screenshot

pytestmark = pytest.mark.browser


def test_partner_sees_only_shared_accounts_and_their_contacts_and_gets_not_found_for_others(page: Page, world: World):
    # Given accounts shared with the partner's organisation, with another partner's, and with nobody
    admin = world.admin
    mine = world.partner.partner_organisation
    theirs = world.other_partner.partner_organisation

    def account(name: str, domain: str, partner) -> Account:
        data = {"name": name, "domain": domain, "country": "DE", "industry": "Manufacturing"}
        if partner is not None:
            data["partner_organisation_id"] = partner.pk
        return services.account_create(actor=admin, via=Via.PAGE, data=data)

    def contact(first: str, last: str, at: Account) -> Contact:
        email = f"{first.lower()}@{at.domain}"
        data = {"first_name": first, "last_name": last, "email": email, "account_id": at.pk}
        return services.contact_create(actor=admin, via=Via.PAGE, data=data)

    shared = account("Brightline Tools", "brightline.example", mine)
    also_shared = account("Harbour Freight Systems", "harbour.example", mine)
    other_partners = account("Zenith Logistics", "zenith.example", theirs)
    internal = account("Quiet Holdings", "quiet.example", None)
    contact("Petra", "Novak", shared)
    contact("Omar", "Haddad", also_shared)
    hidden_contact = contact("Yuki", "Tanaka", other_partners)
    contact("Lena", "Berg", internal)

    # When the partner logs in, the dashboard counts only what is shared with them
    log_in(page, "partner", PASSWORD)
    expect(page.get_by_role("link", name="Accounts you can see")).to_contain_text("2")
    expect(page.get_by_role("link", name="Contacts you can see")).to_contain_text("2")

    # Then the account list holds only the two shared accounts
    header = page.get_by_role("navigation", name="Main navigation")
    header.get_by_role("link", name="Accounts").click()
    expect(page.get_by_test_id("list-count")).to_have_text("2 accounts")
    accounts = page.get_by_test_id("account-table")
    expect(accounts.get_by_role("row")).to_have_count(3)  # the header and two accounts
    expect(accounts.get_by_role("link", name="Brightline Tools")).to_be_visible()
    expect(accounts.get_by_role("link", name="Harbour Freight Systems")).to_be_visible()
    screenshot(page, "account-list")

    # And the contact list only those accounts' contacts
    header.get_by_role("link", name="Contacts").click()
    expect(page.get_by_test_id("list-count")).to_have_text("2 contacts")
    contacts = page.get_by_test_id("contact-table")
    expect(contacts.get_by_role("row")).to_have_count(3)
    expect(contacts.get_by_role("link", name="Petra Novak")).to_be_visible()
    expect(contacts.get_by_role("link", name="Omar Haddad")).to_be_visible()

    # And an account page of theirs opens, listing its contact
    page.goto(f"/accounts/{shared.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Brightline Tools")
    expect(page.get_by_role("link", name="Petra Novak")).to_be_visible()
    screenshot(page, "account-page")

    # When they open another partner's account, an internal account or a hidden contact by URL
    for path in (f"/accounts/{other_partners.pk}/", f"/accounts/{internal.pk}/", f"/contacts/{hidden_contact.pk}/"):
        response = page.goto(path)

        # Then they get the not-found page, which doesn't tell the record exists
        assert response is not None and response.status == 404, path
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(page.get_by_text("This page doesn't exist, or you don't have access to it.")).to_be_visible()
        expect(page.get_by_text("Zenith")).to_have_count(0)
    screenshot(page, "not-found")

    # And the header search doesn't reveal hidden records either
    box = header.get_by_role("searchbox", name="Search contacts and accounts")
    box.fill("zenith")
    expect(page.get_by_test_id("search-dropdown")).to_contain_text("Nothing matches “zenith”.")
    box.fill("tanaka")
    expect(page.get_by_test_id("search-dropdown")).to_contain_text("Nothing matches “tanaka”.")
