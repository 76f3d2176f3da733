"""Who may do what (role capabilities) and who may see which rows (access scopes).

Row-level access is applied by each model's ``visible_to(user)`` queryset method, which reads the
scope computed here, so every page, API call, search and export filters the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapport.core.errors import Forbidden
from rapport.core.models import Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from rapport.core.models import User

SEE_ALL_ROLES = frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER, Role.SERVICE_AGENT})
EVERYONE = frozenset(Role)

CAPABILITIES: dict[str, frozenset[str]] = {
    "records.view": EVERYONE,
    "records.change": EVERYONE,
    "records.delete": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER}),
    "records.bulk_edit": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER, Role.SALES_REP}),
    "records.import": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER}),
    "records.export": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER, Role.SALES_REP, Role.PARTNER}),
    "records.merge": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER}),
    "settings.manage": frozenset({Role.ADMIN}),
    # Sales
    "catalogue.manage": frozenset({Role.ADMIN, Role.SALES_MANAGER}),  # products and product lines
    "pipelines.manage": frozenset({Role.ADMIN, Role.SALES_MANAGER}),  # pipelines, stages, loss reasons, quotas
    "orders.change": frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP}),
    "opportunities.change": frozenset({Role.ADMIN, Role.SALES_MANAGER, Role.SALES_REP, Role.PARTNER}),
    "messages.send": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER, Role.SALES_REP, Role.SERVICE_AGENT}),
    "templates.manage": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER}),
    "reports.team": frozenset({Role.ADMIN, Role.MARKETING, Role.SALES_MANAGER}),  # everyone's figures
}


def can(user: User | AnonymousUser, capability: str) -> bool:
    """Tell whether the user's role grants a capability such as ``records.import``."""
    if not user.is_authenticated or not user.is_active:
        return False
    return getattr(user, "role", None) in CAPABILITIES[capability]


def require(user: User | AnonymousUser, capability: str) -> None:
    """Raise ``Forbidden`` unless the user's role grants the capability."""
    if not can(user, capability):
        raise Forbidden(f"Your role may not do this ({capability.replace('.', ': ').replace('_', ' ')}).")


@dataclass(frozen=True)
class Scope:
    """The rows one user may see: everything, a rep's own/team/territory rows, or a partner's accounts."""

    sees_all: bool = False
    owner_ids: frozenset[int] = frozenset()
    territory_ids: frozenset[int] = frozenset()
    partner_organisation_id: int | None = None


NOTHING = Scope()


def scope_for(user: User | AnonymousUser) -> Scope:
    """Compute (once per user object) which rows the user may see."""
    if not user.is_authenticated or not user.is_active:
        return NOTHING
    cached = getattr(user, "_rapport_scope", None)
    if cached is not None:
        return cached
    from rapport.core.models import User

    assert isinstance(user, User)
    if user.role in SEE_ALL_ROLES:
        scope = Scope(sees_all=True)
    elif user.role == Role.PARTNER:
        scope = Scope(partner_organisation_id=user.partner_organisation_id) if user.partner_organisation_id else NOTHING
    elif user.role == Role.SALES_REP:
        owners = {user.pk}
        if user.team_id:
            owners.update(User.objects.filter(team_id=user.team_id).values_list("pk", flat=True))
        territories = frozenset(user.territories.values_list("pk", flat=True))
        scope = Scope(owner_ids=frozenset(owners), territory_ids=territories)
    else:
        scope = NOTHING
    user.__dict__["_rapport_scope"] = scope  # cached for the request that loaded this user
    return scope
