"""The API tokens page and the password-change page over HTTP: styled inputs, POST/redirect/GET, secret shown once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from rapport.core.models import ApiToken, Role, User
from rapport.core.services import token_create
from tests.factories import UserFactory


@pytest.fixture
def rep(db) -> User:
    return UserFactory(username="rita", first_name="Rita", role=Role.SALES_REP)


def test_creating_a_token_redirects_and_the_next_page_shows_its_secret_once(client, rep):
    # Given a rep on the tokens page
    client.force_login(rep)

    # When she creates a token
    response = client.post("/settings/tokens/", {"name": "Website sync", "scope": "read", "expires_in_days": ""})

    # Then exactly one token exists and the browser is sent back to the page (POST/redirect/GET)
    assert (response.status_code, response["Location"]) == (302, "/settings/tokens/")
    token = ApiToken.objects.get(user=rep)
    assert (token.name, token.scope) == ("Website sync", "read")

    # And the page it lands on shows the secret, which is not cached anywhere
    shown = client.get("/settings/tokens/")
    secrets = re.findall(r'data-testid="new-token">([^<]+)</code>', shown.content.decode())
    assert len(secrets) == 1
    assert secrets[0].startswith(f"rpt_{token.prefix}_")
    assert "no-store" in shown["Cache-Control"]

    # When she reloads the page, the secret is gone and no second token was made
    again = client.get("/settings/tokens/")
    assert 'data-testid="new-token"' not in again.content.decode()
    assert secrets[0] not in again.content.decode()
    assert "new_api_token_secret" not in client.session
    assert ApiToken.objects.filter(user=rep).count() == 1


def test_a_bad_expiry_shows_the_error_next_to_the_input_and_creates_nothing(client, rep):
    client.force_login(rep)

    response = client.post("/settings/tokens/", {"name": "x", "scope": "read", "expires_in_days": "0"})

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<input type="number" name="expires_in_days"[^>]*class="form-control is-invalid"', html)
    assert 'aria-invalid="true"' in html
    assert "Ensure this value is greater than or equal to 1." in html
    assert ApiToken.objects.count() == 0


def test_the_token_form_inputs_have_bootstrap_classes(client, rep):
    client.force_login(rep)

    html = client.get("/settings/tokens/").content.decode()

    assert re.search(r'<input type="text" name="name"[^>]*class="form-control"', html)
    assert re.search(r'<select name="scope" class="form-select"', html)
    assert re.search(r'<input type="number" name="expires_in_days"[^>]*class="form-control"', html)


def test_token_times_are_relative_with_the_exact_time_on_hover(client, rep):
    # Given a token created and used a while ago, and one created just now
    old, _ = token_create(user=rep, name="Old sync")
    created = timezone.now() - dt.timedelta(days=3, hours=1)
    ApiToken.objects.filter(pk=old.pk).update(created_at=created, last_used_at=created + dt.timedelta(days=1))
    token_create(user=rep, name="New sync")
    client.force_login(rep)

    html = client.get("/settings/tokens/").content.decode()

    rows = {name: row for row in html.split("<tr>")[1:] for name in ("Old sync", "New sync") if name in row}
    assert re.search(
        r'<td><time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [^"]+">just now</time></td>',
        rows["New sync"],
    )
    assert ">3 days ago</time>" in rows["Old sync"]
    assert ">2 days ago</time>" in rows["Old sync"]
    assert "<td>never</td>" in rows["New sync"]
    assert "minutes ago" not in html


def test_the_password_change_form_has_styled_labelled_inputs(client, rep):
    client.force_login(rep)

    html = client.get("/password/").content.decode()

    for name in ("old_password", "new_password1", "new_password2"):
        assert re.search(rf'<input type="password" name="{name}"[^>]*class="form-control"', html), name
        assert f'<label class="form-label" for="id_{name}">' in html


def test_a_wrong_old_password_marks_that_input_invalid(client, rep):
    client.force_login(rep)

    response = client.post(
        "/password/",
        {"old_password": "nope", "new_password1": "violet-lantern-42", "new_password2": "violet-lantern-42"},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<input type="password" name="old_password"[^>]*class="form-control is-invalid"', html)
    assert not re.search(r'name="new_password1"[^>]*is-invalid', html)
