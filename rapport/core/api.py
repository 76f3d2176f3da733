"""REST endpoints about the caller: who they are and what their token may do."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from rapport.core.access import CAPABILITIES, can

router = Router(tags=["me"])


class MeOut(Schema):
    """The authenticated user."""

    id: int
    username: str
    email: str
    name: str
    role: str
    team: str | None
    partner_organisation: str | None
    token_scope: str | None
    capabilities: list[str]


@router.get("/me", response=MeOut, summary="Who am I")
def me(request: HttpRequest) -> MeOut:
    """The user the request is authenticated as, and what they may do."""
    from rapport.api import current_user

    user = current_user(request)
    token = getattr(request, "api_token", None)
    return MeOut(
        id=user.pk,
        username=user.username,
        email=user.email,
        name=user.display_name,
        role=user.role,
        team=user.team.name if user.team else None,
        partner_organisation=user.partner_organisation.name if user.partner_organisation else None,
        token_scope=token.scope if token else None,
        capabilities=sorted(c for c in CAPABILITIES if can(user, c)),
    )
