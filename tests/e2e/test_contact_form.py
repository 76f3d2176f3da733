"""Creating and editing a contact through the form, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts.models import Contact, Seniority
from rapport.core.models import AuditEntry, Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.browser


def test_create_a_contact_fixing_a_bad_email_then_edit_the_job_title(page: Page, transactional_db):
    # Given a marketer and an account to link the contact to
    UserFactory(username="mara", first_name="Mara", last_name="Keller", role=Role.MARKETING)
    acme = AccountFactory(name="Acme Robotics", name_key="acme robotics", domain="acme-robotics.example")
    log_in(page, "mara", PASSWORD)

    # When she opens the new-contact form and fills it with a malformed email
    page.get_by_role("link", name="New contact", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New contact")
    person = page.get_by_role("region", name="Person")
    person.get_by_label("First name").fill("Ada")
    person.get_by_label("Last name").fill("Lovelace")
    person.get_by_label("Email").fill("ada@@acme-robotics")
    person.get_by_label("Job title").fill("Marketing Manager")
    person.get_by_role("combobox", name="Account").fill("Acme")
    person.get_by_role("option", name="Acme Robotics").click()
    expect(person.get_by_role("combobox", name="Account")).to_have_value("Acme Robotics")
    page.get_by_role("button", name="Create contact").click()

    # Then nothing is saved, and the error shows next to the email field, which keeps what she typed
    expect(page.get_by_test_id("form-errors")).to_have_text("Please correct the highlighted fields below.")
    email = person.get_by_label("Email")
    expect(email).to_have_value("ada@@acme-robotics")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(
        "'ada@@acme-robotics' is not a valid email address: The part after the @-sign contains invalid characters: '@'."
    )
    expect(person.get_by_label("First name")).to_have_value("Ada")
    expect(person.get_by_role("combobox", name="Account")).to_have_value("Acme Robotics")
    screenshot(page, "contact-form-error")
    assert Contact.all_objects.count() == 0

    # When she corrects the email, the inline error goes away as soon as the field changes
    email.fill("Ada.Lovelace@Acme-Robotics.example")
    email.blur()
    expect(email).to_have_accessible_description("")
    page.get_by_role("button", name="Create contact").click()

    # Then she lands on the new contact's page, which shows what she entered
    contact = Contact.objects.get()
    expect(page).to_have_url(url_path(f"/contacts/{contact.pk}/"))
    expect(page.get_by_role("alert")).to_contain_text("Created Ada Lovelace.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    about = page.get_by_role("region", name="About this contact")
    expect(about.get_by_role("link", name="ada.lovelace@acme-robotics.example")).to_be_visible()
    expect(about.get_by_test_id("seniority")).to_have_text("Manager (derived)")
    expect(about.get_by_role("link", name="Acme Robotics")).to_have_attribute("href", f"/accounts/{acme.pk}/")
    screenshot(page, "contact-page")
    assert (contact.email, contact.job_title, contact.seniority, contact.account_id) == (
        "ada.lovelace@acme-robotics.example",
        "Marketing Manager",
        Seniority.MANAGER,
        acme.pk,
    )

    # When she edits the job title
    page.get_by_role("toolbar", name="Contact actions").get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit Ada Lovelace")
    page.get_by_label("Job title").fill("VP Marketing")
    page.get_by_role("button", name="Save changes").click()

    # Then the page shows the new title and the seniority derived from it
    expect(page).to_have_url(url_path(f"/contacts/{contact.pk}/"))
    expect(page.get_by_role("alert")).to_contain_text("Saved Ada Lovelace.")
    expect(page.get_by_text("VP Marketing at Acme Robotics")).to_be_visible()
    expect(about.get_by_test_id("seniority")).to_have_text("Vice president (derived)")

    # And the History tab lists the change, old value and new
    page.get_by_role("tab", name="History").click()
    history = page.get_by_role("tabpanel", name="History")
    expect(history).to_be_visible()
    change = history.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Job title"))
    # The newest entry comes first: the edit, then the creation
    expect(change.get_by_role("cell")).to_have_text(["Marketing Manager", "VP Marketing", "—", "Marketing Manager"])
    screenshot(page, "contact-history")

    contact.refresh_from_db()
    assert (contact.job_title, contact.seniority, contact.seniority_manual) == ("VP Marketing", Seniority.VP, False)
    entries = AuditEntry.objects.filter(object_id=contact.pk).order_by("at", "id")
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].changes["job_title"] == ["Marketing Manager", "VP Marketing"]


def test_a_contact_created_from_the_form_has_unknown_consent_on_every_channel(page: Page, transactional_db):
    # Given a marketer on the new-contact form
    UserFactory(username="mara", first_name="Mara", role=Role.MARKETING)
    log_in(page, "mara", PASSWORD)
    page.goto("/contacts/new/")
    expect(page.get_by_role("heading", level=1)).to_have_text("New contact")

    # When she creates a contact without touching the consent section
    page.get_by_role("region", name="Person").get_by_label("First name").fill("Niko")
    consent = page.get_by_role("region", name="Consent").get_by_role("group", name="Consent")
    shown = {
        channel: consent.get_by_label(f"{channel} consent", exact=True).input_value()
        for channel in ("Email", "Phone", "SMS", "Post")
    }
    # (each consent select has a name of its own: "Email" is the person's address only)
    expect(page.get_by_label("Email", exact=True)).to_have_count(1)
    expect(page.get_by_label("Phone", exact=True)).to_have_count(1)
    page.get_by_role("button", name="Create contact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Niko")

    # Then nobody was opted in on their behalf: every channel is unknown, on the form and in the database
    assert shown == {"Email": "unknown", "Phone": "unknown", "SMS": "unknown", "Post": "unknown"}
    assert Contact.objects.get().consent() == {
        "email": "unknown",
        "phone": "unknown",
        "sms": "unknown",
        "post": "unknown",
    }
