"""Creating, using and revoking an API token from the tokens page, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import APIRequestContext, Page, expect

from rapport.core.models import ApiToken, Role
from tests.conftest import PASSWORD
from tests.e2e.conftest import log_in, screenshot, url_path
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def test_create_a_token_see_it_once_use_it_and_revoke_it(page: Page, api_client: APIRequestContext, transactional_db):
    # Given a sales rep on the tokens page, reached from the settings
    rep = UserFactory(username="rita", first_name="Rita", email="rita@rapport.test", role=Role.SALES_REP)
    log_in(page, "rita", PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    screenshot(page, "settings")
    page.get_by_role("main").get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(url_path("/settings/tokens/"))
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    # When she creates a read token for her website sync
    page.get_by_label("Name").fill("Website sync")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create token").click()

    # Then the secret is shown once, and the list shows the token by its prefix only
    secret = page.get_by_test_id("new-token").inner_text().strip()
    assert re.fullmatch(r"rpt_[A-Za-z0-9]+_\S+", secret), secret
    token = ApiToken.objects.get(user=rep)
    row = page.get_by_role("row").filter(has_text="Website sync")
    expect(row.get_by_role("cell")).to_have_text(
        ["Website sync", f"rpt_{token.prefix}_…", "Read", "just now", "never", "active", "Revoke"]
    )
    assert secret.startswith(f"rpt_{token.prefix}_")
    screenshot(page, "tokens")

    # And it authenticates API requests (made without the browser's session cookie)
    bearer = {"Authorization": f"Bearer {secret}"}
    me = api_client.get("/api/v1/me", headers=bearer)
    assert me.status == 200
    assert (me.json()["username"], me.json()["token_scope"]) == ("rita", "read")

    # When she opens the page again, the secret is not shown again
    page.goto("/settings/tokens/")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    expect(page.get_by_text(secret)).to_have_count(0)
    expect(row.get_by_role("cell").nth(4)).not_to_have_text("never")  # it has been used

    # When she revokes it, confirming the question
    questions: list[str] = []

    def accept(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.get_by_role("button", name="Revoke").click()

    # Then the page says so, the token is marked revoked, and the API refuses it
    expect(page.get_by_role("alert")).to_contain_text("The token has been revoked; requests using it now get 401.")
    expect(row.get_by_text("revoked", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    assert questions == ["Revoke this token? Integrations using it will stop working."]
    refused = api_client.get("/api/v1/me", headers=bearer)
    assert refused.status == 401
    assert refused.json()["code"] == "unauthenticated"
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.objects.filter(user=rep).count() == 1
