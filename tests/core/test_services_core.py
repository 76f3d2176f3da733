"""Core services and helpers: tokens, client addresses behind proxies."""

from __future__ import annotations

from django.test import RequestFactory, override_settings

from rapport.core.models import ApiToken
from rapport.core.services import token_create, token_revoke
from rapport.core.views import client_address


def test_revoke_by_an_all_digit_prefix_revokes_that_token_not_the_one_with_that_id(world):
    first, _ = token_create(user=world.admin)
    second, _ = token_create(user=world.admin)
    ApiToken.objects.filter(pk=second.pk).update(prefix=f"{first.pk:08d}")
    token_revoke(token_ref=f"{first.pk:08d}")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.revoked_at is None, second.revoked_at is not None) == (True, True)


def test_client_address_ignores_forwarded_header_unless_proxies_are_trusted():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert client_address(request) == "10.0.0.1"
    with override_settings(TRUSTED_PROXIES=1):
        assert client_address(request) == "203.0.113.7"
    with override_settings(TRUSTED_PROXIES=2):
        assert client_address(request) == "6.6.6.6"
    with override_settings(TRUSTED_PROXIES=3):
        assert client_address(request) == "10.0.0.1"
