"""Fixtures shared by every test: users of each role, API clients with tokens, a small world of records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from rapport.core.models import ApiToken, Role, User
from rapport.core.services import token_create
from tests.factories import (
    AccountFactory,
    ContactFactory,
    PartnerOrganisationFactory,
    TeamFactory,
    TerritoryFactory,
    UserFactory,
)

PASSWORD = "correct-horse-battery"


@pytest.fixture
def admin(db) -> User:
    return UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def marketer(db) -> User:
    return UserFactory(username="marketer", role=Role.MARKETING)


@dataclass
class World:
    """Two teams, a territory, a partner organisation, users of every role, and records spread among them."""

    admin: User
    marketer: User
    manager: User
    rep: User
    teammate: User
    other_rep: User
    agent: User
    partner: User
    other_partner: User


@pytest.fixture
def world(db) -> World:
    """Users of each role: rep and teammate share a team; the rep covers the DACH territory."""
    north = TeamFactory(name="North")
    south = TeamFactory(name="South")
    acme_partners = PartnerOrganisationFactory(name="Acme Resellers")
    other_partners = PartnerOrganisationFactory(name="Other Resellers")
    rep = UserFactory(username="rep", role=Role.SALES_REP, team=north)
    dach = TerritoryFactory(name="DACH", countries=["DE", "AT", "CH"])
    dach.members.add(rep)
    return World(
        admin=UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True),
        marketer=UserFactory(username="marketer", role=Role.MARKETING),
        manager=UserFactory(username="manager", role=Role.SALES_MANAGER),
        rep=rep,
        teammate=UserFactory(username="teammate", role=Role.SALES_REP, team=north),
        other_rep=UserFactory(username="other_rep", role=Role.SALES_REP, team=south),
        agent=UserFactory(username="agent", role=Role.SERVICE_AGENT),
        partner=UserFactory(username="partner", role=Role.PARTNER, partner_organisation=acme_partners),
        other_partner=UserFactory(username="other_partner", role=Role.PARTNER, partner_organisation=other_partners),
    )


class ApiClient:
    """A Django test client that sends a bearer token and JSON bodies."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _send(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        call = getattr(self.client, method)
        if body is not None:
            kwargs["data"] = json.dumps(body) if not isinstance(body, str | bytes) else body
            kwargs["content_type"] = "application/json"
        return call(path, headers=self.headers, **kwargs)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self.headers)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self._send("post", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self._send("patch", path, body, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self._send("put", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self._send("delete", path, None, **kwargs)


@pytest.fixture
def api_for(db):
    """``api_for(user, scope="write")`` returns an ``ApiClient`` authenticated with a new token."""

    def make(user: User, scope: str = ApiToken.Scope.WRITE) -> ApiClient:
        _, secret = token_create(user=user, scope=scope)
        return ApiClient(secret)

    return make


@pytest.fixture
def logged_in(client):
    """``logged_in(user)`` returns the Django test client logged in as that user."""

    def make(user: User) -> Client:
        client.force_login(user)
        return client

    return make


__all__ = ["PASSWORD", "AccountFactory", "ContactFactory", "World"]
