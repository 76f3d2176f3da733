"""Reads on users, partner organisations and API tokens, for core's pages and for other apps.

Other apps read core's tables through these functions, not through the models' managers, so that what
they may rely on is written down in one place. Each function that takes ids runs no query when given none.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import QuerySet

from rapport.core.models import ApiToken, PartnerOrganisation, Role, User


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    """The user's own API tokens, newest first (revoked and expired ones too, for the tokens page)."""
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def user_or_none(user_id: int | None) -> User | None:
    """The user with this id, active or not; None when there is no id or no such user."""
    return User.objects.filter(pk=user_id).first() if user_id else None


def user_display_names(user_ids: Collection[int]) -> dict[int, str]:
    """The display names of the users with these ids, by id; ids of users that don't exist are left out."""
    if not user_ids:
        return {}
    return {user.pk: user.display_name for user in User.objects.filter(pk__in=user_ids)}


def partner_organisation_or_none(organisation_id: int | None) -> PartnerOrganisation | None:
    """The partner organisation with this id; None when there is no id or no such organisation."""
    return PartnerOrganisation.objects.filter(pk=organisation_id).first() if organisation_id else None


def partner_organisation_names(organisation_ids: Collection[int]) -> dict[int, str]:
    """The names of the partner organisations with these ids, by id."""
    if not organisation_ids:
        return {}
    return dict(PartnerOrganisation.objects.filter(pk__in=organisation_ids).values_list("pk", "name"))


def record_owners() -> list[User]:
    """Active internal users who may own records (partners can't), by name."""
    return list(
        User.objects.filter(is_active=True)
        .exclude(role=Role.PARTNER)
        .order_by("first_name", "username")
        .only("pk", "username", "first_name", "last_name")
    )
