"""Validation of contact and account input, shared by pages, the API, imports and the command line.

``clean_contact`` and ``clean_account`` take a mapping of field names to values (typed values from the
API and forms, strings from files when ``from_text`` is set) and return model field values, or raise
``ValidationFailed`` listing every problem at once. ``Lookups`` caches the reference data (custom fields,
users, territories) so that cleaning thousands of import rows costs no query per row.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.conf import settings

from rapport.contacts import normalise, seniority
from rapport.contacts.models import (
    Account,
    ConsentChannel,
    ConsentStatus,
    CustomField,
    LifecycleStage,
    ObjectType,
    Seniority,
    SizeBand,
)
from rapport.core.errors import FieldError, ValidationFailed
from rapport.core.models import PartnerOrganisation, Role, Territory, User

if TYPE_CHECKING:
    from rapport.contacts.models import Contact

CONTACT_TEXT_FIELDS = {
    "first_name": 100,
    "last_name": 100,
    "job_title": 200,
    "department": 100,
    "street": 200,
    "postal_code": 20,
    "city": 100,
    "region": 100,
    "source": 100,
    "external_id": 100,
}
ACCOUNT_TEXT_FIELDS = {"name": 200, "industry": 100, "region": 100, "city": 100, "external_id": 100}
CUSTOM_TEXT_MAX = 1000

# Fields a contact input may carry, besides the text fields above.
CONTACT_FIELDS = frozenset(CONTACT_TEXT_FIELDS) | {
    "email",
    "phone",
    "seniority",
    "account_id",
    "country",
    "lifecycle_stage",
    "owner_id",
    "tags",
    "consent",
    "custom",
}
ACCOUNT_FIELDS = frozenset(ACCOUNT_TEXT_FIELDS) | {
    "domain",
    "size_band",
    "annual_revenue",
    "currency",
    "country",
    "owner_id",
    "partner_organisation_id",
    "parent_id",
    "lifecycle_stage",
    "custom",
}

_TRUE = {"1", "true", "yes", "y", "ja", "oui", "si", "sí", "x", "on", "checked"}
_FALSE = {"0", "false", "no", "n", "nein", "non", "off", "unchecked"}
_CONSENT_WORDS = {
    **dict.fromkeys(
        ["granted", "grant", "yes", "y", "true", "1", "opt-in", "opt in", "opted in", "opted-in", "subscribed"],
        ConsentStatus.GRANTED,
    ),
    **dict.fromkeys(
        ["denied", "deny", "no", "n", "false", "0", "opt-out", "opt out", "opted out", "opted-out", "unsubscribed"],
        ConsentStatus.DENIED,
    ),
    **dict.fromkeys(["unknown", "", "none", "n/a"], ConsentStatus.UNKNOWN),
}
_STAGE_WORDS = {
    **{normalise.key(s.value): s.value for s in LifecycleStage},
    **{normalise.key(s.label): s.value for s in LifecycleStage},
    "marketingqualifiedlead": LifecycleStage.MQL.value,
    "salesqualifiedlead": LifecycleStage.SQL.value,
    "marketing qualified": LifecycleStage.MQL.value,
    "sales qualified": LifecycleStage.SQL.value,
    "prospect": LifecycleStage.LEAD.value,
    "advocate": LifecycleStage.EVANGELIST.value,
    "client": LifecycleStage.CUSTOMER.value,
}
_SENIORITY_WORDS = {
    **{normalise.key(s.value): s.value for s in Seniority},
    **{normalise.key(s.label): s.value for s in Seniority},
    "c-level": Seniority.C_LEVEL.value,
    "c level": Seniority.C_LEVEL.value,
    "executive": Seniority.C_LEVEL.value,
    "vice president": Seniority.VP.value,
    "individual contributor": Seniority.IC.value,
    "entry": Seniority.IC.value,
    "senior": Seniority.IC.value,
}
_STAGES = tuple(LifecycleStage.values)
_SENIORITIES = tuple(Seniority.values)
_SIZES = tuple(SizeBand.values)
_SIZE_WORDS = {normalise.key(s.value): s.value for s in SizeBand} | {normalise.key(s.label): s.value for s in SizeBand}


class NeedsDatabase(Exception):
    """Cleaning a value needs a database read, which only the process and thread that loaded the lookups
    may make (an import cleans rows ahead in a separate process that must leave the database alone)."""


def _reader() -> tuple[int, int]:
    return os.getpid(), threading.get_ident()


@dataclass
class Lookups:
    """Reference data for cleaning many records: custom fields, users, territories, visible accounts.

    Values not cached yet are read from the database on first use, by the process and thread that
    loaded the lookups only: elsewhere they raise ``NeedsDatabase``.
    """

    actor: User | None
    object_type: str
    custom_fields: dict[str, CustomField]
    territories: list[Territory]
    _users: dict[str, int] | None = None
    _partners: dict[str, int] | None = None
    _accounts_checked: dict[int, bool] = field(default_factory=dict)
    _loader: tuple[int, int] = field(default_factory=_reader)

    @classmethod
    def load(cls, *, actor: User | None, object_type: str) -> Lookups:
        """Read the reference data for one object type in two queries."""
        fields = {f.key: f for f in CustomField.objects.filter(object_type=object_type)}
        territories = list(Territory.objects.order_by("priority", "name"))
        return cls(actor=actor, object_type=object_type, custom_fields=fields, territories=territories)

    def territory_id(self, country: str, region: str) -> int | None:
        """The first territory (by priority) that covers a country and region."""
        for territory in self.territories:
            if territory.covers(country, region):
                return territory.pk
        return None

    def _may_read(self) -> None:
        if _reader() != self._loader:
            raise NeedsDatabase

    def preload_users(self) -> None:
        """Read the users now, so that cleaning elsewhere can resolve them too."""
        self._load_users()

    def preload_partners(self) -> None:
        """Read the partner organisations now, so that cleaning elsewhere can resolve them too."""
        self._load_partners()

    def _load_users(self) -> dict[str, int]:
        if self._users is None:
            self._may_read()
            users: dict[str, int] = {}
            for pk, username, email in (
                User.objects.filter(is_active=True).exclude(role=Role.PARTNER).values_list("pk", "username", "email")
            ):
                users[str(pk)] = pk
                users[username.lower()] = pk
                if email:
                    users.setdefault(email.lower(), pk)
            self._users = users
        return self._users

    def user_id(self, ref: object) -> int:
        """Resolve a user id, username or email to an active internal user's id."""
        users = self._load_users()
        if isinstance(ref, bool):
            raise ValueError("must be a user's id, username or email.")
        found = users.get(str(ref).strip().lower())
        if found is None:
            raise ValueError(f"no active user {ref!r}; use an id, username or email of a Rapport user.")
        return found

    def _load_partners(self) -> dict[str, int]:
        if self._partners is None:
            self._may_read()
            partners: dict[str, int] = {}
            for pk, name in PartnerOrganisation.objects.values_list("pk", "name"):
                partners[str(pk)] = pk
                partners[name.strip().lower()] = pk
            self._partners = partners
        return self._partners

    def partner_id(self, ref: object) -> int:
        """Resolve a partner organisation's id or name (any case) to its id."""
        partners = self._load_partners()
        if isinstance(ref, bool):
            raise ValueError("must be a partner organisation's id or name.")
        found = partners.get(str(ref).strip().lower())
        if found is None:
            raise ValueError(f"no partner organisation {ref!r}.")
        return found

    def account_id(self, ref: object) -> int:
        """Check that an account id exists and that the actor may see it."""
        if isinstance(ref, bool) or not isinstance(ref, int | str) or not str(ref).strip().isdigit():
            raise ValueError("must be an account id (a whole number).")
        pk = int(str(ref).strip())
        if pk not in self._accounts_checked:
            self._may_read()
            accounts = Account.objects.filter(pk=pk)
            if self.actor is not None:
                accounts = accounts.visible_to(self.actor)
            self._accounts_checked[pk] = accounts.exists()
        if not self._accounts_checked[pk]:
            raise ValueError(f"no account with id {pk}.")
        return pk


def _text(value: object, max_length: int, *, from_text: bool) -> str:
    if type(value) is str:
        text = value
    elif value is None:
        return ""
    elif isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be text.")
    elif not from_text:
        raise ValueError("must be text, not a number.")
    else:
        text = str(value)
    # Collapse runs of spaces (but keep line breaks, e.g. in street addresses).
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    if len(text) > max_length:
        raise ValueError(f"is too long ({len(text)} characters; at most {max_length}).")
    if "\x00" in text:
        raise ValueError("contains a NUL character.")
    return text


def _choice(value: object, words: Mapping[str, str], what: str, allowed: Iterable[str]) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be one of: {', '.join(allowed)}.")
    found = words.get(normalise.key(value))
    if found is None:
        raise ValueError(f"{value!r} is not a {what}; use one of: {', '.join(allowed)}.")
    return found


def _number(value: object, *, from_text: bool) -> int | float:
    if isinstance(value, bool):
        raise ValueError("must be a number.")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number.")
        return value
    if isinstance(value, Decimal):
        return float(value)
    if not isinstance(value, str) or not from_text:
        raise ValueError("must be a number.")
    text = value.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        # Both: the last one is the decimal separator (1,250.50 or 1.250,50).
        decimal_comma = text.rfind(",") > text.rfind(".")
        text = text.replace(".", "").replace(",", ".") if decimal_comma else text.replace(",", "")
    elif commas > 1 or (commas == 1 and re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+", text) and not text.startswith("0")):
        text = text.replace(",", "")  # thousands: 1,250,000 or 1,250
    elif commas == 1:
        text = text.replace(",", ".")  # a decimal comma: 1,5
    elif dots > 1:
        text = text.replace(".", "")  # thousands with dots: 1.250.000
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{value!r} is not a number.")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y")


def _date(value: object, *, from_text: bool) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError("must be a date such as 2026-01-31.")
    text = value.strip()
    formats = _DATE_FORMATS if from_text else _DATE_FORMATS[:1]
    if from_text and len(text) > 10 and text[10:11] in {"T", " "}:
        text = text[:10]
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31.")


def _boolean(value: object, *, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and isinstance(value, str | int):
        word = str(value).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError("must be true or false.")


def _custom_value(definition: CustomField, value: object, *, from_text: bool) -> object:
    kind = definition.field_type
    if kind == CustomField.FieldType.TEXT:
        return _text(value, CUSTOM_TEXT_MAX, from_text=from_text)
    if kind == CustomField.FieldType.NUMBER:
        return _number(value, from_text=from_text)
    if kind == CustomField.FieldType.DATE:
        return _date(value, from_text=from_text)
    if kind == CustomField.FieldType.BOOLEAN:
        return _boolean(value, from_text=from_text)
    options = {normalise.key(str(c)): str(c) for c in definition.choices}
    if kind == CustomField.FieldType.CHOICE:
        if not isinstance(value, str):
            raise ValueError(f"must be one of: {', '.join(map(str, definition.choices))}.")
        return _choice(value, options, "choice here", map(str, definition.choices))
    # Multiple choice: a list, or in files a ';'- or ','-separated string.
    if isinstance(value, str) and from_text:
        separator = ";" if ";" in value else ","
        items: list[object] = [part for part in value.split(separator) if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError("must be a list of choices.")
    chosen = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"must be a list of: {', '.join(map(str, definition.choices))}.")
        canonical = _choice(item, options, "choice here", map(str, definition.choices))
        if canonical not in chosen:
            chosen.append(canonical)
    return chosen


def _is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def clean_custom(
    raw: object,
    lookups: Lookups,
    *,
    current: Mapping[str, object] | None,
    partial: bool,
    from_text: bool,
    errors: list[FieldError],
) -> dict[str, object] | None:
    """Validate custom field values and return the record's whole new ``custom`` dict (None if invalid)."""
    if not isinstance(raw, Mapping):
        errors.append(FieldError("custom", "must be an object of custom field keys and values."))
        return None
    result = dict(current or {})
    ok = True
    for name, value in raw.items():
        definition = lookups.custom_fields.get(str(name))
        if definition is None:
            known = ", ".join(sorted(lookups.custom_fields)) or "none are defined"
            errors.append(FieldError(f"custom.{name}", f"is not a custom field (known: {known})."))
            ok = False
            continue
        if _is_empty(value):
            if definition.required and (partial or not from_text):
                errors.append(FieldError(f"custom.{name}", "is required and can't be emptied."))
                ok = False
            result.pop(str(name), None)
            continue
        try:
            result[str(name)] = _custom_value(definition, value, from_text=from_text)
        except ValueError as exc:
            errors.append(FieldError(f"custom.{name}", str(exc)))
            ok = False
    if not partial:
        for key_, definition in lookups.custom_fields.items():
            if definition.required and _is_empty(result.get(key_)):
                errors.append(FieldError(f"custom.{key_}", f"{definition.label} is required."))
                ok = False
    return result if ok else None


def clean_tags(value: object, *, from_text: bool) -> list[str]:
    """Return a list of distinct tag names from a list (or, in files, a comma- or ';'-separated string)."""
    if isinstance(value, str) and from_text:
        separator = ";" if ";" in value else ","
        items: list[object] = [part.strip() for part in value.split(separator)]
    elif isinstance(value, list):
        items = value
    elif value is None:
        items = []
    else:
        raise ValueError("must be a list of tag names.")
    tags: list[str] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError("must be a list of tag names.")
        name = " ".join(item.split())
        if not name:
            continue
        if len(name) > 50:
            raise ValueError(f"tag {name[:20]!r}… is too long (at most 50 characters).")
        if "\x00" in name:  # PostgreSQL can't store it: refuse it here rather than fail on insert
            raise ValueError("a tag name contains a NUL character.")
        if name.lower() not in seen:
            seen.add(name.lower())
            tags.append(name)
    return tags


def clean_consent(value: object, *, from_text: bool, errors: list[FieldError]) -> dict[str, str]:
    """Return ``{channel: status}`` for the channels given; problems go to ``errors`` as ``consent.<channel>``."""
    if not isinstance(value, Mapping):
        errors.append(FieldError("consent", 'must be an object such as {"email": "granted"}.'))
        return {}
    result: dict[str, str] = {}
    channels = [c.value for c in ConsentChannel]
    for channel, status in value.items():
        if channel not in channels:
            errors.append(FieldError(f"consent.{channel}", f"is not a channel; use {', '.join(channels)}."))
            continue
        if from_text and isinstance(status, str | int | bool):
            found = _CONSENT_WORDS.get(str(status).strip().lower())
        else:
            found = status if status in ConsentStatus.values else None
        if found is None:
            errors.append(
                FieldError(f"consent.{channel}", f"{status!r} is not a consent status; use granted, denied or unknown.")
            )
            continue
        result[channel] = str(found)
    return result


def clean_contact(
    raw: Mapping[str, Any],
    lookups: Lookups,
    *,
    partial: bool = False,
    from_text: bool = False,
    existing: Contact | None = None,
) -> dict[str, Any]:
    """Validate contact input and return model field values plus ``tags`` and ``consent`` if given.

    With ``partial`` (an update) only the given fields are checked and returned. Phone numbers
    without a country code are read in the contact's country (or the default region).
    """
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            if name in CONTACT_TEXT_FIELDS:
                out[name] = _text(value, CONTACT_TEXT_FIELDS[name], from_text=from_text)
            elif name == "email":
                out["email"] = normalise.email(_text(value, 254, from_text=from_text))
            elif name == "phone":
                out["phone"] = _text(value, 40, from_text=from_text)  # normalised below, once the country is known
            elif name == "country":
                out["country"] = normalise.country(_text(value, 100, from_text=from_text))
            elif name == "lifecycle_stage":
                if _is_empty(value) and not partial:
                    continue
                out["lifecycle_stage"] = _choice(value, _STAGE_WORDS, "lifecycle stage", _STAGES)
            elif name == "seniority":
                if _is_empty(value):
                    out["seniority_manual"] = False
                else:
                    out["seniority"] = _choice(value, _SENIORITY_WORDS, "seniority", _SENIORITIES)
                    out["seniority_manual"] = True
            elif name == "owner_id":
                out["owner_id"] = None if _is_empty(value) else lookups.user_id(value)
            elif name == "account_id":
                out["account_id"] = None if _is_empty(value) else lookups.account_id(value)
            elif name == "tags":
                out["tags"] = clean_tags(value, from_text=from_text)
            elif name == "consent":
                out["consent"] = clean_consent(value, from_text=from_text, errors=errors)
            elif name == "custom":
                continue
            else:
                errors.append(FieldError(str(name), "is not a contact field."))
        except ValueError as exc:
            errors.append(FieldError(str(name), str(exc)))
    if "custom" in raw or (not partial and lookups.custom_fields):
        custom = clean_custom(
            raw.get("custom", {}),
            lookups,
            current=existing.custom if existing else None,
            partial=partial,
            from_text=from_text,
            errors=errors,
        )
        if custom is not None and ("custom" in raw or custom):
            out["custom"] = custom
    if out.get("phone"):
        region = out.get("country") or (existing.country if existing else "") or settings.DEFAULT_PHONE_REGION
        try:
            out["phone"] = normalise.phone(out["phone"], region)
        except ValueError as exc:
            errors.append(FieldError("phone", str(exc)))
    if not partial and not any(out.get(f) for f in ("first_name", "last_name", "email", "phone")):
        errors.append(FieldError("", "A contact needs at least a name, an email address or a phone number."))
    if partial and existing is not None:
        after = {f: out.get(f, getattr(existing, f)) for f in ("first_name", "last_name", "email", "phone")}
        if not any(after.values()):
            errors.append(FieldError("", "A contact needs at least a name, an email address or a phone number."))
    if errors:
        raise ValidationFailed("The contact is not valid.", errors)
    return out


def clean_account(
    raw: Mapping[str, Any],
    lookups: Lookups,
    *,
    partial: bool = False,
    from_text: bool = False,
    existing: Account | None = None,
) -> dict[str, Any]:
    """Validate account input and return model field values."""
    errors: list[FieldError] = []
    out: dict[str, Any] = {}
    for name, value in raw.items():
        try:
            if name in ACCOUNT_TEXT_FIELDS:
                out[name] = _text(value, ACCOUNT_TEXT_FIELDS[name], from_text=from_text)
            elif name == "domain":
                out["domain"] = normalise.domain(_text(value, 253, from_text=from_text))
            elif name == "country":
                out["country"] = normalise.country(_text(value, 100, from_text=from_text))
            elif name == "size_band":
                out["size_band"] = "" if _is_empty(value) else _choice(value, _SIZE_WORDS, "size band", _SIZES)
            elif name == "annual_revenue":
                out["annual_revenue"] = None if _is_empty(value) else _money(value, from_text=from_text)
            elif name == "currency":
                code = _text(value, 3, from_text=from_text).upper()
                if not re.fullmatch(r"[A-Z]{3}", code):
                    raise ValueError("must be a three-letter ISO 4217 code such as EUR.")
                out["currency"] = code
            elif name == "lifecycle_stage":
                if _is_empty(value) and not partial:
                    continue
                out["lifecycle_stage"] = _choice(value, _STAGE_WORDS, "lifecycle stage", _STAGES)
            elif name == "owner_id":
                out["owner_id"] = None if _is_empty(value) else lookups.user_id(value)
            elif name == "partner_organisation_id":
                out["partner_organisation_id"] = None if _is_empty(value) else lookups.partner_id(value)
            elif name == "parent_id":
                out["parent_id"] = None if _is_empty(value) else lookups.account_id(value)
                if existing is not None and out["parent_id"] == existing.pk:
                    raise ValueError("an account can't be its own parent.")
            elif name == "custom":
                continue
            else:
                errors.append(FieldError(str(name), "is not an account field."))
        except ValueError as exc:
            errors.append(FieldError(str(name), str(exc)))
    if "custom" in raw or (not partial and lookups.custom_fields):
        custom = clean_custom(
            raw.get("custom", {}),
            lookups,
            current=existing.custom if existing else None,
            partial=partial,
            from_text=from_text,
            errors=errors,
        )
        if custom is not None and ("custom" in raw or custom):
            out["custom"] = custom
    if not partial and not out.get("name"):
        errors.append(FieldError("name", "An account needs a name."))
    if partial and "name" in out and not out["name"]:
        errors.append(FieldError("name", "An account needs a name."))
    if errors:
        raise ValidationFailed("The account is not valid.", errors)
    return out


def _money(value: object, *, from_text: bool) -> Decimal:
    # A Decimal (the API's amounts) stays exact; through a float, 1234567890123456.78 would lose its cents.
    number = value if isinstance(value, Decimal) and value.is_finite() else _number(value, from_text=from_text)
    try:
        amount = Decimal(str(number)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount.") from None
    # Below 10^15: SQLite stores decimals as floats and reads them back to 15 digits, and a larger amount
    # could round up past the column's 18 digits, making every list that shows the account fail.
    if amount < 0 or amount >= Decimal("1e15"):
        raise ValueError("must be between 0 and 999,999,999,999,999.99.")
    return amount


def derive_contact(contact: Contact, lookups: Lookups) -> None:
    """Fill the fields computed from others: search keys, seniority from the title, territory."""
    contact.first_name_key = normalise.key(contact.first_name)
    contact.last_name_key = normalise.key(contact.last_name)
    if not contact.seniority_manual:
        contact.seniority = seniority.derive(contact.job_title)
    contact.territory_id = lookups.territory_id(contact.country, contact.region)


def derive_account(account: Account, lookups: Lookups) -> None:
    """Fill the fields computed from others: the search key and the territory."""
    account.name_key = normalise.key(account.name)
    account.territory_id = lookups.territory_id(account.country, account.region)


OBJECT_TYPES = {ObjectType.CONTACT.value, ObjectType.ACCOUNT.value}
