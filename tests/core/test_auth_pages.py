"""Logging in and out, throttling, CSRF, password change, password hashing and session cookies, over HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, check_password
from django.test import Client

import rapport.settings as production_settings
from rapport.core.models import LoginAttempt, Role, User
from tests.conftest import PASSWORD
from tests.factories import UserFactory

THROTTLED = "Too many failed log-ins. Wait 15 minutes, or ask an admin to reset your password."
WRONG = "Please enter a correct username and password."
NEW_PASSWORD = "violet-lantern-orbit-42"


@pytest.fixture
def rep(db) -> User:
    return UserFactory(username="rep", role=Role.SALES_REP)


def log_in(client: Client, username: str, password: str, **extra: str):
    return client.post("/login/", {"username": username, "password": password, **extra})


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def test_login_page_has_labelled_fields_and_a_csrf_token(client, db):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label class="form-label" for="id_username">Username</label>' in html
    assert '<label class="form-label" for="id_password">Password</label>' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_right_password_logs_in_and_goes_to_the_dashboard(client, rep):
    response = log_in(client, "rep", PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_user_id(client) == str(rep.pk)


def test_login_follows_a_local_next_but_not_an_outside_one(client, rep):
    inside = log_in(client, "rep", PASSWORD, next="/settings/tokens/")
    client.logout()
    outside = log_in(client, "rep", PASSWORD, next="https://evil.example.com/")

    assert inside["Location"] == "/settings/tokens/"
    assert outside["Location"] == "/"


def test_a_wrong_password_shows_a_message_and_records_the_failure(client, rep):
    response = log_in(client, "rep", "not-the-password")

    assert response.status_code == 200
    assert WRONG in response.content.decode()
    assert logged_in_user_id(client) is None
    assert list(LoginAttempt.objects.values_list("username", "address")) == [("rep", "127.0.0.1")]


def test_after_five_failures_even_the_right_password_is_refused_with_429(client, rep):
    for _ in range(5):
        assert log_in(client, "rep", "guess").status_code == 200

    response = log_in(client, "rep", PASSWORD)

    assert response.status_code == 429
    assert THROTTLED in response.content.decode()
    assert logged_in_user_id(client) is None


def test_throttling_counts_the_username_case_insensitively(client, rep):
    for name in ["rep", "REP", "Rep", "rEp", "reP"]:
        log_in(client, name, "guess")

    assert log_in(client, "rep", PASSWORD).status_code == 429


def test_throttling_one_user_leaves_another_free_to_log_in(client, rep):
    UserFactory(username="teammate")
    for _ in range(5):
        log_in(client, "rep", "guess")

    response = log_in(client, "teammate", PASSWORD)

    assert response.status_code == 302


def test_a_successful_login_clears_earlier_failures(client, rep):
    for _ in range(4):
        log_in(client, "rep", "guess")
    assert log_in(client, "rep", PASSWORD).status_code == 302
    client.post("/logout/")

    for _ in range(4):
        log_in(client, "rep", "guess")
    response = log_in(client, "rep", PASSWORD)

    assert response.status_code == 302
    assert LoginAttempt.objects.filter(username="rep").count() == 0


def test_logout_is_a_post_that_ends_the_session(client, rep):
    log_in(client, "rep", PASSWORD)

    by_get = client.get("/logout/")
    by_post = client.post("/logout/")
    after = client.get("/")

    assert by_get.status_code == 405
    assert (by_post.status_code, by_post["Location"]) == (302, "/login/")
    assert logged_in_user_id(client) is None
    assert (after.status_code, after["Location"]) == (302, "/login/?next=/")


def test_the_login_form_refuses_a_post_without_a_csrf_token(rep):
    client = Client(enforce_csrf_checks=True)

    response = log_in(client, "rep", PASSWORD)

    assert response.status_code == 403
    assert logged_in_user_id(client) is None


def test_the_login_form_accepts_a_post_with_the_csrf_token_it_handed_out(rep):
    client = Client(enforce_csrf_checks=True)
    token = client.get("/login/").context["csrf_token"]

    response = log_in(client, "rep", PASSWORD, csrfmiddlewaretoken=str(token))

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(rep.pk)


def test_logout_refuses_a_post_without_a_csrf_token(rep):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)

    response = client.post("/logout/")

    assert response.status_code == 403
    assert logged_in_user_id(client) == str(rep.pk)


def test_changing_the_password_keeps_the_user_logged_in_and_the_new_one_works(client, rep):
    client.force_login(rep)

    response = client.post(
        "/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )

    rep.refresh_from_db()
    assert response.redirect_chain == [("/", 302)]
    assert "Your password has been changed." in response.content.decode()
    assert rep.check_password(NEW_PASSWORD)
    assert logged_in_user_id(client) == str(rep.pk)


@pytest.mark.parametrize(
    ("new", "error"),
    [
        ("password1", "This password is too common."),
        ("short-pw", "This password is too short. It must contain at least 10 characters."),
        ("8364019275", "This password is entirely numeric."),
    ],
)
def test_a_weak_new_password_is_rejected_and_the_old_one_kept(client, rep, new, error):
    client.force_login(rep)

    response = client.post("/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new})

    rep.refresh_from_db()
    assert response.status_code == 200
    assert error in response.content.decode()
    assert rep.check_password(PASSWORD)


def test_a_wrong_old_password_is_rejected(client, rep):
    client.force_login(rep)

    response = client.post(
        "/password/", {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    rep.refresh_from_db()
    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in response.content.decode()
    assert rep.check_password(PASSWORD)


def test_production_hashes_passwords_with_argon2(settings, db):
    assert production_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS

    user = UserFactory(username="hashed", password=NEW_PASSWORD)

    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$")
    assert check_password(NEW_PASSWORD, user.password)


def test_an_older_hash_is_upgraded_to_argon2_at_the_next_login(client, settings, db):
    settings.PASSWORD_HASHERS = [*production_settings.PASSWORD_HASHERS, "django.contrib.auth.hashers.MD5PasswordHasher"]
    user = UserFactory(username="legacy")
    user.password = MD5PasswordHasher().encode(PASSWORD, "salt")
    user.save(update_fields=["password"])

    log_in(client, "legacy", PASSWORD)

    user.refresh_from_db()
    assert user.password.startswith("argon2$")


def test_session_cookie_is_http_only_and_secure_when_the_site_is_https(client, settings, rep):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True

    response = log_in(client, "rep", PASSWORD)

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"


def test_session_cookie_is_http_only_but_not_secure_on_plain_http(client, rep):
    response = log_in(client, "rep", PASSWORD)

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["secure"] == ""


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/settings/",
        "/settings/tokens/",
        "/password/",
        "/soon/pipeline/",
        "/contacts/",
        "/accounts/",
        "/duplicates/",
    ],
)
def test_pages_send_an_anonymous_visitor_to_the_login_page(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_a_logged_in_user_is_sent_from_the_login_page_to_the_dashboard(client, rep):
    client.force_login(rep)

    response = client.get("/login/")

    assert (response.status_code, response["Location"]) == (302, "/")
