"""Writes on users, teams, territories, partner organisations, API tokens, the audit log and log-in throttling."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rapport.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from rapport.core.models import (
    ApiToken,
    AuditEntry,
    LoginAttempt,
    PartnerOrganisation,
    Role,
    Team,
    Territory,
    User,
    Via,
    WorkerHeartbeat,
)

TOKEN_PREFIX = "rpt_"  # noqa: S105 - the public start of every token, not a secret


_PLAIN = (str, int, float, bool, type(None))


def jsonable(value: object) -> Any:
    """Turn a field value into something JSON can hold, for audit entries and provenance."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def audit_entry(
    *,
    actor: User | None,
    via: str,
    object_type: str,
    object_id: int,
    action: str,
    changes: Mapping[str, Sequence[object]] | None = None,
    note: str = "",
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Build (without saving) one audit entry; callers save them, often in bulk with their change."""
    return AuditEntry(
        at=at or timezone.now(),
        actor=actor,
        via=via,
        object_type=object_type,
        object_id=object_id,
        action=action,
        changes={k: [jsonable(v[0]), jsonable(v[1])] for k, v in (changes or {}).items()},
        note=note[:300],
    )


def audit_record(**kwargs: Any) -> AuditEntry:
    """Save one audit entry (see ``audit_entry`` for the arguments)."""
    entry = audit_entry(**kwargs)
    entry.save()
    return entry


def user_create(
    *,
    username: str,
    role: str,
    email: str = "",
    password: str | None = None,
    team: str | None = None,
    partner: str | None = None,
    first_name: str = "",
    last_name: str = "",
    actor: User | None = None,
    via: str = Via.CLI,
) -> User:
    """Create a user with a role; the team and partner organisation are created if new."""
    errors: list[FieldError] = []
    username = username.strip()
    if not username or len(username) > 150:
        errors.append(FieldError("username", "must be 1 to 150 characters."))
    if role not in Role.values:
        errors.append(FieldError("role", f"{role!r} is not a role; use one of: {', '.join(Role.values)}."))
    if role == Role.PARTNER and not partner:
        errors.append(FieldError("partner", "a partner user needs a partner organisation (--partner ORG)."))
    if partner and role != Role.PARTNER:
        errors.append(FieldError("partner", "only users with the partner role belong to a partner organisation."))
    if email:
        from rapport.contacts import normalise

        try:
            email = normalise.email(email)
        except ValueError as exc:
            errors.append(FieldError("email", str(exc)))
    if password is not None:
        try:
            validate_password(password, User(username=username, email=email))
        except DjangoValidationError as exc:
            errors.append(FieldError("password", " ".join(exc.messages)))
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"A user named {username!r} already exists.")
    if errors:
        raise ValidationFailed("The user is not valid.", errors)
    with transaction.atomic():
        team_obj = Team.objects.get_or_create(name=team.strip())[0] if team else None
        partner_obj = PartnerOrganisation.objects.get_or_create(name=partner.strip())[0] if partner else None
        user = User(
            username=username,
            email=email,
            role=role,
            team=team_obj,
            partner_organisation=partner_obj,
            first_name=first_name,
            last_name=last_name,
            is_staff=role == Role.ADMIN,
            is_superuser=role == Role.ADMIN,
        )
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        try:
            user.save()
        except IntegrityError:
            raise Conflict(f"A user named {username!r} already exists.") from None
        audit_record(
            actor=actor,
            via=via,
            object_type="user",
            object_id=user.pk,
            action=AuditEntry.Action.CREATE,
            changes={"role": [None, role], "team": [None, team], "partner": [None, partner]},
        )
    return user


def user_update(
    *,
    user_id: int,
    actor: User | None,
    via: str,
    role: str | None = None,
    team_id: int | str | None = "unchanged",
    partner_organisation_id: int | str | None = "unchanged",
    is_active: bool | None = None,
    territory_ids: Iterable[int] | None = None,
) -> User:
    """Change a user's role, team, partner organisation, territories or active flag."""
    with transaction.atomic():
        try:
            user = User.objects.select_for_update().get(pk=user_id)
        except User.DoesNotExist:
            raise NotFound(f"No user with id {user_id}.") from None
        changes: dict[str, list[object]] = {}
        if role is not None and role != user.role:
            if role not in Role.values:
                raise invalid("role", f"{role!r} is not a role.")
            changes["role"] = [user.role, role]
            user.role = role
            user.is_staff = user.is_superuser = role == Role.ADMIN
        if team_id != "unchanged" and team_id != user.team_id:
            changes["team"] = [user.team_id, team_id]
            user.team_id = team_id  # type: ignore[assignment]
        if partner_organisation_id != "unchanged" and partner_organisation_id != user.partner_organisation_id:
            changes["partner_organisation"] = [user.partner_organisation_id, partner_organisation_id]
            user.partner_organisation_id = partner_organisation_id  # type: ignore[assignment]
        if is_active is not None and is_active != user.is_active:
            changes["is_active"] = [user.is_active, is_active]
            user.is_active = is_active
        if user.role == Role.PARTNER and not user.partner_organisation_id:
            raise invalid("partner_organisation", "a partner user needs a partner organisation.")
        if user.role != Role.PARTNER and user.partner_organisation_id:
            raise invalid("partner_organisation", "only partner users belong to a partner organisation.")
        user.save()
        if territory_ids is not None:
            new = set(territory_ids)
            old = set(user.territories.values_list("pk", flat=True))
            if new != old:
                user.territories.set(Territory.objects.filter(pk__in=new))
                changes["territories"] = [sorted(old), sorted(new)]
        if changes:
            audit_record(actor=actor, via=via, object_type="user", object_id=user.pk, action="update", changes=changes)
    return user


def token_hash(token: str) -> str:
    """SHA-256 of a token: tokens are long and random, so a fast hash is enough and lookups stay O(1)."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(
    *,
    user: User,
    scope: str = ApiToken.Scope.READ,
    name: str = "",
    expires_in_days: int | None = None,
    actor: User | None = None,
    via: str = Via.CLI,
) -> tuple[ApiToken, str]:
    """Create an API token; return it and its secret, which is shown once and never stored."""
    if scope not in ApiToken.Scope.values:
        raise invalid("scope", f"{scope!r} is not a scope; use read or write.")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise invalid("expires_in_days", "must be between 1 and 3650 days.")
    if not user.is_active:
        raise invalid("user", f"user {user.username!r} is deactivated.")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    expires_at = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name[:100], prefix=prefix, key_hash=token_hash(secret), scope=scope, expires_at=expires_at
        )
        audit_record(
            actor=actor or user,
            via=via,
            object_type="api_token",
            object_id=token.pk,
            action="create",
            changes={"user": [None, user.username], "scope": [None, scope]},
        )
    return token, secret


def token_revoke(
    *, token_ref: str, actor: User | None = None, via: str = Via.CLI, user: User | None = None
) -> ApiToken:
    """Revoke a token given by its secret, its prefix or its id; a token is revoked at most once."""
    ref = token_ref.strip()
    tokens = ApiToken.objects.all()
    if user is not None:
        tokens = tokens.filter(user=user)
    if ref.startswith(TOKEN_PREFIX):
        found = tokens.filter(key_hash=token_hash(ref)).first()
    else:
        # Prefixes are 8 hex characters and may be all digits, so they win over ids.
        found = tokens.filter(prefix=ref).first()
        if found is None and ref.isdigit() and len(ref) < 8:
            found = tokens.filter(pk=int(ref)).first()
    if found is None:
        raise NotFound(f"No API token matches {ref[:12]!r}.")
    with transaction.atomic():
        if found.revoked_at is None:
            found.revoked_at = timezone.now()
            found.save(update_fields=["revoked_at", "updated_at"])
            audit_record(
                actor=actor,
                via=via,
                object_type="api_token",
                object_id=found.pk,
                action="update",
                changes={"revoked_at": [None, found.revoked_at]},
            )
    return found


def token_authenticate(secret: str) -> ApiToken | None:
    """Return the active token for a secret (recording its use), or None."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=token_hash(secret)).first()
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    # Write the last-use time at most once a minute so busy integrations don't turn every read into a write.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def login_throttled(*, username: str, address: str | None) -> bool:
    """Tell whether too many log-ins failed recently for this username or from this address."""
    since = timezone.now() - dt.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    recent = LoginAttempt.objects.filter(at__gte=since)
    if recent.filter(username=username.lower()[:150]).count() >= limit:
        return True
    return bool(address) and recent.filter(address=address).count() >= limit * 4


def login_failed(*, username: str, address: str | None) -> None:
    """Record a failed log-in and forget old ones."""
    now = timezone.now()
    LoginAttempt.objects.create(username=username.lower()[:150], address=address or None, at=now)
    LoginAttempt.objects.filter(at__lt=now - dt.timedelta(days=1)).delete()


def login_succeeded(*, username: str) -> None:
    """Clear a user's failed log-ins after a good one."""
    LoginAttempt.objects.filter(username=username.lower()[:150]).delete()


def worker_heartbeat(*, name: str = "default") -> None:
    """Record that a background worker is alive."""
    WorkerHeartbeat.objects.update_or_create(name=name, defaults={"beat_at": timezone.now()})


def territory_save(
    *,
    name: str,
    countries: Sequence[str],
    regions: Sequence[str] = (),
    priority: int = 100,
    member_ids: Iterable[int] = (),
    territory_id: int | None = None,
) -> Territory:
    """Create or change a territory; records are re-assigned to territories by ``contacts`` services."""
    from rapport.contacts import normalise

    errors: list[FieldError] = []
    codes = []
    for raw in countries:
        try:
            codes.append(normalise.country(raw))
        except ValueError as exc:
            errors.append(FieldError("countries", str(exc)))
    if not name.strip():
        errors.append(FieldError("name", "is required."))
    if not codes and not errors:
        errors.append(FieldError("countries", "list at least one country."))
    if errors:
        raise ValidationFailed("The territory is not valid.", errors)
    with transaction.atomic():
        if territory_id is None:
            territory = Territory(name=name.strip())
        else:
            try:
                territory = Territory.objects.select_for_update().get(pk=territory_id)
            except Territory.DoesNotExist:
                raise NotFound(f"No territory with id {territory_id}.") from None
            territory.name = name.strip()
        territory.countries = codes
        territory.regions = [r.strip() for r in regions if r.strip()]
        territory.priority = priority
        try:
            territory.save()
        except IntegrityError:
            raise Conflict(f"A territory named {name.strip()!r} already exists.") from None
        territory.members.set(User.objects.filter(pk__in=list(member_ids)))
    return territory
