"""Changing one's own password from the user menu, in a real browser."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password
from playwright.sync_api import Page, expect

from rapport.core.models import Role, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

NEW_PASSWORD = "violet-lantern-orbit-42"
NEW_LABEL = re.compile(r"^New password\W*$")  # not "New password confirmation"; the label ends with "*"


def test_change_the_password_after_fixing_a_wrong_old_one(page: Page, transactional_db):
    # Given a rep on the password page, reached from the user menu
    UserFactory(username="rita", first_name="Rita", role=Role.SALES_REP)
    log_in(page, "rita", PASSWORD)
    page.get_by_role("button", name="Rita").click()
    page.get_by_role("link", name="Change password").click()
    expect(page).to_have_url(url_path("/password/"))

    # When she types a wrong old password
    page.get_by_label("Old password").fill("not-my-password")
    page.get_by_label(NEW_LABEL).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()

    # Then that input is marked, with the reason under it
    old = page.get_by_label("Old password")
    expect(old).to_have_class("form-control is-invalid")
    expect(old).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Your old password was entered incorrectly.")).to_be_visible()
    screenshot(page, "password-change-error")

    # When she types the right one, the password is changed and she stays logged in
    page.get_by_label("Old password").fill(PASSWORD)
    page.get_by_label(NEW_LABEL).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("Your password has been changed.")
    assert check_password(NEW_PASSWORD, User.objects.get(username="rita").password)
