"""An admin's settings: the administration links and defining a custom field, in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.contacts.models import CustomField
from rapport.core.models import Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def test_admin_defines_a_choice_field_that_then_appears_on_the_contact_form(page: Page, transactional_db):
    # Given an admin on the settings page
    UserFactory(username="ines", first_name="Ines", role=Role.ADMIN, is_staff=True, is_superuser=True)
    log_in(page, "ines", PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Settings").click()
    main = page.get_by_role("main")
    expect(main.get_by_role("link")).to_have_text(
        [
            "API tokens",
            "Change password",
            "Saved views",
            "Custom fields",
            "Users and roles",
            "Teams",
            "Territories",
            "Partner organisations",
            "Audit log",
        ]
    )
    screenshot(page, "settings-admin")

    # When she opens the custom fields and adds a choice field for contacts
    main.get_by_role("link", name="Custom fields").click()
    expect(page).to_have_url(url_path("/settings/fields/"))
    expect(page.get_by_text("No contact fields yet. Define one with the form on the right.")).to_be_visible()
    page.get_by_label("Applies to").select_option("contact")
    # (the key follows the label as she types, until she types a key of her own; clearing it hands it back)
    page.get_by_label("Label").fill("Préférée lang")
    expect(page.get_by_label("Key")).to_have_value("preferee_lang")
    page.get_by_label("Key").fill("pref_language")
    page.get_by_label("Label").fill("Preferred language")
    expect(page.get_by_label("Key")).to_have_value("pref_language")
    page.get_by_label("Key").fill("")
    page.get_by_label("Label").fill("Preferred language")
    expect(page.get_by_label("Key")).to_have_value("preferred_language")
    page.get_by_label("Type").select_option("choice")
    expect(page.get_by_label("Choices")).to_be_visible()
    page.get_by_label("Choices").fill("English\nGerman\nFrench")
    page.get_by_role("button", name="Add field").click()

    # Then it is listed with its key, and saved
    expect(page.get_by_role("alert")).to_contain_text("Added the contact field “Preferred language”.")
    fields = page.get_by_test_id("fields-contact")
    expect(fields.get_by_role("row").nth(1).get_by_role("cell").nth(0)).to_have_text("Preferred language")
    field = CustomField.objects.get()
    assert (field.object_type, field.key, field.field_type, field.choices) == (
        "contact",
        "preferred_language",
        "choice",
        ["English", "German", "French"],
    )
    screenshot(page, "custom-fields")

    # And the new-contact form offers it
    page.goto("/contacts/new/")
    custom = page.get_by_role("region", name="More about this contact")
    expect(custom.get_by_label("Preferred language")).to_be_visible()
    expect(custom.get_by_label("Preferred language").get_by_role("option")).to_have_text(
        ["—", "English", "German", "French"]
    )
