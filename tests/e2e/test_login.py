"""Logging in and out in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from rapport.core.models import LoginAttempt, Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import screenshot, url_path
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def test_wrong_password_shows_the_error_and_the_right_one_lands_on_the_dashboard(page: Page, transactional_db):
    # Given a sales rep with a password
    UserFactory(username="rita", first_name="Rita", role=Role.SALES_REP)

    # When she opens the app, she is sent to the log-in page
    page.goto("/")
    expect(page).to_have_url(url_path(r"/login/\?next=/"))
    expect(page).to_have_title("Log in · Rapport")
    # ... which is styled by Bootstrap and the app's own CSS (the static files are served)
    log_in_button = page.get_by_role("button", name="Log in")
    expect(log_in_button).to_have_css("border-radius", "6px")
    expect(log_in_button).to_have_css("background-color", "rgb(47, 79, 143)")
    screenshot(page, "login")

    # When she types a wrong password
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill("not-my-password")
    page.get_by_role("button", name="Log in").click()

    # Then the form says so, keeps her username, and she stays logged out
    expect(page.get_by_role("alert")).to_have_text(
        "Please enter a correct username and password. Note that both fields may be case-sensitive."
    )
    expect(page.get_by_label("Username")).to_have_value("rita")
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot(page, "login-error")
    assert LoginAttempt.objects.filter(username="rita").count() == 1

    # When she types the right one
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # Then she lands on the dashboard, with the navigation and her name in the header
    expect(page).to_have_url(url_path("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Good to see you, Rita")
    navigation = page.get_by_role("navigation", name="Main navigation")
    expect(navigation.get_by_role("link", name="Contacts")).to_be_visible()
    expect(navigation.get_by_role("link", name="Accounts")).to_be_visible()
    expect(navigation.get_by_role("button", name="Rita")).to_be_visible()
    screenshot(page, "dashboard")

    # When she logs out from the user menu
    navigation.get_by_role("button", name="Rita").click()
    page.get_by_role("button", name="Log out").click()

    # Then she is back on the log-in page, and the app's pages send her there again
    expect(page).to_have_url(url_path("/login/"))
    page.goto("/contacts/")
    expect(page).to_have_url(url_path(r"/login/\?next=/contacts/"))
