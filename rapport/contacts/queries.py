"""Reads on contacts and accounts: filtered, searched, ordered lists and the record pages' data.

Every read starts from ``visible_to(user)``, so pages, the API, search and exports show the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from rapport.contacts import importing, normalise
from rapport.contacts.models import (
    Account,
    ConsentChange,
    ConsentStatus,
    Contact,
    ContactTag,
    CustomField,
    DataSource,
    ImportJob,
    LifecycleChange,
    LifecycleStage,
    ObjectType,
    SavedView,
    Seniority,
    SizeBand,
    Tag,
)
from rapport.core.access import can
from rapport.core.db import Branch, keyset_page, prefix_q
from rapport.core.errors import FieldError, NotFound, ValidationFailed
from rapport.core.models import AuditEntry, PartnerOrganisation, Territory, User
from rapport.core.queries import partner_organisation_or_none, user_or_none

# Orderings offered to users, mapped to index-backed column lists (each ends with the unique id).
CONTACT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "name": ("last_name_key", "first_name_key", "id"),
    "-name": ("-last_name_key", "-first_name_key", "-id"),
    "email": ("email", "id"),
    "-email": ("-email", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}
ACCOUNT_ORDERINGS: dict[str, tuple[str, ...]] = {
    "name": ("name_key", "id"),
    "-name": ("-name_key", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
}

_DIGITS = re.compile(r"\d")
CUSTOM_PREFIX = "cf."


@dataclass
class ListFilters:
    """Filters for contact and account lists, parsed from a query string (pages) or query parameters (API)."""

    q: str = ""
    owner: str = ""  # a user id, "me" or "none"
    stage: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)
    seniority: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    account: int | None = None
    industry: str = ""
    size_band: list[str] = field(default_factory=list)
    consent_email: str = ""
    updated_since: dt.datetime | None = None
    custom: dict[str, str] = field(default_factory=dict)
    ordering: str = "name"

    def is_empty(self) -> bool:
        """True when no filter (ordering aside) is set."""
        return not any(
            [
                self.q,
                self.owner,
                self.stage,
                self.country,
                self.seniority,
                self.tag,
                self.account,
                self.industry,
                self.size_band,
                self.consent_email,
                self.updated_since,
                self.custom,
            ]
        )


def _many(params: Mapping[str, Any], name: str) -> list[str]:
    if hasattr(params, "getlist"):
        values = params.getlist(name)
    else:
        raw = params.get(name)
        values = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
    result: list[str] = []
    for value in values:
        result.extend(part.strip() for part in str(value).split(",") if part.strip())
    return result


def parse_filters(params: Mapping[str, Any], *, object_type: str) -> ListFilters:
    """Read and check list filters; unknown values raise ``ValidationFailed`` naming the parameter."""
    errors: list[FieldError] = []
    filters = ListFilters()
    filters.q = str(params.get("q") or "").strip()[:200]
    owner = str(params.get("owner") or "").strip()
    # ASCII digits and at most 18 of them: "²".isdigit() is true and huge ids overflow the database.
    if owner and owner not in ("me", "none") and not re.fullmatch(r"[0-9]{1,18}", owner):
        errors.append(FieldError("owner", "must be a user id, 'me' or 'none'."))
    filters.owner = owner
    for value in _many(params, "stage"):
        if value not in LifecycleStage.values:
            errors.append(FieldError("stage", f"{value!r} is not a lifecycle stage."))
        else:
            filters.stage.append(value)
    for value in _many(params, "country"):
        try:
            filters.country.append(normalise.country(value))
        except ValueError as exc:
            errors.append(FieldError("country", str(exc)))
    if object_type == ObjectType.CONTACT:
        for value in _many(params, "seniority"):
            if value not in Seniority.values:
                errors.append(FieldError("seniority", f"{value!r} is not a seniority level."))
            else:
                filters.seniority.append(value)
        filters.tag = _many(params, "tag")
        account = str(params.get("account") or "").strip()
        if account:
            if re.fullmatch(r"[0-9]{1,18}", account):
                filters.account = int(account)
            else:
                errors.append(FieldError("account", "must be an account id."))
        consent = str(params.get("consent_email") or "").strip()
        if consent and consent not in ConsentStatus.values:
            errors.append(FieldError("consent_email", "must be granted, denied or unknown."))
        filters.consent_email = consent
    else:
        filters.industry = str(params.get("industry") or "").strip()[:100]
        for value in _many(params, "size_band"):
            if value not in SizeBand.values:
                errors.append(FieldError("size_band", f"{value!r} is not a size band."))
            else:
                filters.size_band.append(value)
    since = str(params.get("updated_since") or "").strip()
    if since:
        try:
            parsed = parse_datetime(since) if "T" in since or " " in since else None
            if parsed is None:
                day = parse_date(since) if len(since) == 10 else None
                parsed = dt.datetime.combine(day, dt.time.min) if day else None
        except ValueError:  # well formed but impossible, such as month 13
            parsed = None
        if parsed is None:
            errors.append(FieldError("updated_since", "must be a date or ISO 8601 time, e.g. 2026-01-31T09:00:00Z."))
        else:
            filters.updated_since = parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)
    orderings = CONTACT_ORDERINGS if object_type == ObjectType.CONTACT else ACCOUNT_ORDERINGS
    ordering = str(params.get("ordering") or params.get("sort") or "name")
    if ordering not in orderings:
        errors.append(FieldError("ordering", f"must be one of: {', '.join(orderings)}."))
    else:
        filters.ordering = ordering
    custom_keys = None
    for name in params:
        if not str(name).startswith(CUSTOM_PREFIX):
            continue
        key_ = str(name)[len(CUSTOM_PREFIX) :]
        if custom_keys is None:
            custom_keys = set(CustomField.objects.filter(object_type=object_type).values_list("key", flat=True))
        if key_ not in custom_keys:
            errors.append(FieldError(str(name), "is not a custom field."))
            continue
        raw = params.get(name)
        if raw not in (None, ""):
            filters.custom[key_] = str(raw)
    if errors:
        raise ValidationFailed("The list filters are not valid.", errors)
    return filters


def _owner_q(filters: ListFilters, user: User | None) -> Q:
    if filters.owner == "me":
        return Q(owner_id=user.pk if user is not None else None)
    if filters.owner == "none":
        return Q(owner__isnull=True)
    if filters.owner:
        return Q(owner_id=int(filters.owner))
    return Q()


def _custom_q(filters: ListFilters, object_type: str) -> Q:
    condition = Q()
    if not filters.custom:
        return condition
    definitions = {f.key: f for f in CustomField.objects.filter(object_type=object_type, key__in=list(filters.custom))}
    for key_, value in filters.custom.items():
        definition = definitions[key_]
        if definition.field_type == CustomField.FieldType.NUMBER:
            try:
                number = float(value)
                if not math.isfinite(number):  # nan, inf, 1e400: no stored value matches, and JSON can't hold them
                    raise ValueError(value)
            except ValueError:
                raise ValidationFailed(
                    "The list filters are not valid.", [FieldError(f"cf.{key_}", "must be a number.")]
                ) from None
            condition &= Q(**{f"custom__{key_}": int(number) if number.is_integer() else number})
        elif definition.field_type == CustomField.FieldType.BOOLEAN:
            condition &= Q(**{f"custom__{key_}": value.lower() in ("1", "true", "yes")})
        elif definition.field_type == CustomField.FieldType.MULTI_CHOICE:
            condition &= Q(**{f"custom__{key_}__icontains": value})
        else:
            condition &= Q(**{f"custom__{key_}__iexact": value})
    return condition


# A word matching more companies than this is too vague to look for contacts through their company.
COMPANY_MATCH_LIMIT = 200


def _word_conditions(word: str) -> list[Q]:
    """The ways one search word can match a contact, each served by its own index."""
    conditions = [
        prefix_q("first_name_key", word),
        prefix_q("last_name_key", word),
        # NOT (email = '') repeats the partial indexes' condition, so they can serve the range.
        prefix_q("email", word) & ~Q(email=""),
    ]
    accounts = list(
        Account.objects.filter(prefix_q("name_key", word) | prefix_q("domain", word)).values_list("pk", flat=True)[
            : COMPANY_MATCH_LIMIT + 1
        ]
    )
    if accounts and len(accounts) <= COMPANY_MATCH_LIMIT:
        conditions.append(Q(account_id__in=accounts))
    return conditions


def search_contacts_branches(q: str) -> tuple[list[Branch], Q]:
    """A search box entry as alternative conditions plus one condition they all share.

    An email (with ``@``) or a phone number is one condition. Words each match a name, email, company
    or domain prefix: the longest word's alternatives become the branches (each answered through its own
    index) and every other word must match too. Pages fetch branch by branch (see ``keyset_page``).
    """
    text = q.strip()
    if not text:
        return [], Q()
    if "@" in text:
        return [Branch(prefix_q("email", text.lower().removeprefix("mailto:")) & ~Q(email=""))], Q()
    digits = "".join(_DIGITS.findall(text))
    if len(digits) >= 4 and not re.search(r"[a-zA-Z]", text):
        if text.lstrip().startswith("+"):
            return [Branch(prefix_q("phone", "+" + digits))], Q()
        try:
            exact = normalise.phone(text, settings.DEFAULT_PHONE_REGION)
        except ValueError:
            return [Branch(prefix_q("phone", "+" + digits))], Q()
        return [Branch(Q(phone=exact)), Branch(prefix_q("phone", "+" + digits))], Q()
    words = normalise.key(text).split()[:5]
    if not words:
        return [], Q()
    leading = max(words, key=len)
    rest = Q()
    for word in words:
        if word is not leading:
            either = Q()
            for condition in _word_conditions(word):
                either |= condition
            rest &= either
    first, last, *others = _word_conditions(leading)
    # The last-name index is also the list's order (last name, first name): that branch reads in order.
    # The range repeats the prefix so PostgreSQL can walk that index under any collation.
    upper = leading[:-1] + chr(ord(leading[-1]) + 1)
    in_order = last & Q(last_name_key__gte=leading, last_name_key__lt=upper)
    return [Branch(first), Branch(in_order, in_order=True), *(Branch(c) for c in others)], rest


def _any_of(branches: list[Branch]) -> Q:
    """Branches joined with OR as ``pk IN (subquery)`` terms, which both databases answer index by index."""
    condition = Q()
    for branch in branches:
        condition |= Q(pk__in=Contact.objects.filter(branch.condition).values("pk"))
    return condition


def search_contacts_q(q: str) -> Q:
    """The whole condition for a search box entry (for counts, exports and bulk actions)."""
    branches, rest = search_contacts_branches(q)
    if not branches:
        return Q()
    return (_any_of(branches) if len(branches) > 1 else branches[0].condition) & rest


def search_accounts_q(q: str) -> Q:
    """The condition for an account search: name words or domain prefix."""
    text = normalise.key(q)
    if not text:
        return Q()
    condition = prefix_q("name_key", text) | prefix_q("domain", text.removeprefix("www."))
    words = text.split()
    if len(words) > 1:
        each = Q()
        for word in words[:5]:
            each &= Q(name_key__contains=word)
        condition |= prefix_q("name_key", words[0]) & each
    return condition


# A tag with at least this many contacts is filtered by probing each row in list order (EXISTS), which
# finds a page of a common tag at once; a rarer one by fetching its members and sorting them (IN).
TAG_WALK_THRESHOLD = 1_000


def _tag_q(name: str, *, walk_in_order: bool) -> Q:
    links = ContactTag.objects.filter(tag__key=name.lower())
    if walk_in_order and links.values("pk")[:TAG_WALK_THRESHOLD].count() >= TAG_WALK_THRESHOLD:
        return Q(Exists(ContactTag.objects.filter(contact_id=OuterRef("pk"), tag__key=name.lower())))
    return Q(pk__in=links.values("contact_id"))


def contacts_filtered(user: User | None, filters: ListFilters, *, for_page: bool = False) -> QuerySet[Contact]:
    """Contacts the user may see that match the filters (unordered); no user (the system) sees all.

    ``for_page`` says the rows will be read in list order a page at a time, which changes how a tag
    filter is best answered (see ``TAG_WALK_THRESHOLD``); counts and exports leave it off.
    """
    contacts = Contact.objects.all() if user is None else Contact.objects.visible_to(user)
    condition = _owner_q(filters, user)
    if filters.stage:
        condition &= Q(lifecycle_stage__in=filters.stage)
    if filters.country:
        condition &= Q(country__in=filters.country)
    if filters.seniority:
        condition &= Q(seniority__in=filters.seniority)
    if filters.account is not None:
        condition &= Q(account_id=filters.account)
    if filters.consent_email:
        condition &= Q(consent_email=filters.consent_email)
    if filters.updated_since is not None:
        condition &= Q(updated_at__gte=filters.updated_since)
    for name in filters.tag:
        condition &= _tag_q(name, walk_in_order=for_page)
    condition &= _custom_q(filters, ObjectType.CONTACT)
    if filters.q:
        condition &= search_contacts_q(filters.q)
    return contacts.filter(condition)


def accounts_filtered(user: User | None, filters: ListFilters) -> QuerySet[Account]:
    """Accounts the user may see that match the filters (unordered); no user (the system) sees all."""
    accounts = Account.objects.all() if user is None else Account.objects.visible_to(user)
    condition = _owner_q(filters, user)
    if filters.stage:
        condition &= Q(lifecycle_stage__in=filters.stage)
    if filters.country:
        condition &= Q(country__in=filters.country)
    if filters.industry:
        condition &= Q(industry__iexact=filters.industry)
    if filters.size_band:
        condition &= Q(size_band__in=filters.size_band)
    if filters.updated_since is not None:
        condition &= Q(updated_at__gte=filters.updated_since)
    condition &= _custom_q(filters, ObjectType.ACCOUNT)
    if filters.q:
        condition &= search_accounts_q(filters.q)
    return accounts.filter(condition)


def contact_page(
    user: User | None, filters: ListFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Contact], str | None]:
    """One page of the contact list, with owner, account and tags loaded in a fixed number of queries.

    A search is answered branch by branch (see ``search_contacts_branches``) so that it stays fast at a
    million contacts, whatever the words match.
    """
    if filters.q and filters.ordering in ("name", "-name"):
        branches, rest = search_contacts_branches(filters.q)
        contacts = contacts_filtered(user, replace(filters, q="")).filter(rest)
    else:
        branches = []
        contacts = contacts_filtered(user, filters, for_page=True)
    contacts = contacts.select_related("owner", "account").prefetch_related("tags")
    return keyset_page(contacts, CONTACT_ORDERINGS[filters.ordering], cursor, limit, branches=branches)


def account_page(
    user: User, filters: ListFilters, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[Account], str | None]:
    """One page of the account list, with owners and partner organisations loaded."""
    accounts = accounts_filtered(user, filters).select_related("owner", "partner_organisation", "parent")
    return keyset_page(accounts, ACCOUNT_ORDERINGS[filters.ordering], cursor, limit)


# Counts stop at a cap and say "10,000+": an exact count of a million filtered rows costs more than
# the whole page, and nobody pages through ten thousand rows. List pages stop sooner, at 1,000, as
# Salesforce's "50+ items" does, and count further only when asked ("count all").
COUNT_CAP = 10_000
PAGE_COUNT_CAP = 1_000
FULL_COUNT_CAP = 100_000


# A search says "1,000+" sooner: counting every contact named Anna is of no use to anyone.
SEARCH_COUNT_CAP = 1_000


def contacts_count(user: User | None, filters: ListFilters, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many contacts match the filters, capped (``(count, capped)``); searches count branch by branch."""
    if not filters.q:
        return count_capped(contacts_filtered(user, filters), cap)
    if cap > SEARCH_COUNT_CAP:
        return count_capped(contacts_filtered(user, filters), cap)
    branches, rest = search_contacts_branches(filters.q)
    base = contacts_filtered(user, replace(filters, q="")).filter(rest).order_by()
    found: set[int] = set()
    cap = min(cap, SEARCH_COUNT_CAP)
    for branch in branches:
        found.update(base.filter(branch.condition).values_list("pk", flat=True)[: cap + 1])
        if len(found) > cap:
            break
    return min(len(found), cap), len(found) > cap


def count_capped(queryset: QuerySet[Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """Count rows, stopping at ``cap``; returns ``(count, capped)`` so lists can say "100,000+"."""
    count = queryset.order_by().values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


def audit_history(object_type: str, object_id: int, limit: int = 100) -> list[AuditEntry]:
    """The newest changes to one record, with who made them."""
    return list(AuditEntry.objects.filter(object_type=object_type, object_id=object_id).select_related("actor")[:limit])


def global_search(user: User, q: str, limit: int = 8) -> dict[str, list[Any]]:
    """Contacts and accounts matching a search box entry, for the header's search."""
    text = q.strip()
    if len(text) < 2:
        return {"contacts": [], "accounts": []}
    contacts, _ = contact_page(user, ListFilters(q=text), limit=limit)
    accounts = (
        list(Account.objects.visible_to(user).filter(search_accounts_q(text)).order_by("name_key", "id")[:limit])
        if "@" not in text
        else []
    )
    return {"contacts": contacts, "accounts": accounts}


def dashboard_summary(user: User) -> dict[str, Any]:
    """Counts for the dashboard: visible contacts and accounts, the user's own, new this week, by stage."""
    contacts = Contact.objects.visible_to(user)
    week_ago = timezone.now() - dt.timedelta(days=7)
    by_stage = dict(contacts.order_by().values_list("lifecycle_stage").annotate(n=models.Count("pk")))
    return {
        "contacts": sum(by_stage.values()),
        "accounts": Account.objects.visible_to(user).count(),
        "mine": contacts.filter(owner_id=user.pk).count(),
        "new_this_week": contacts.filter(created_at__gte=week_ago).count(),
        "by_stage": [
            {"value": stage.value, "label": stage.label, "count": by_stage[stage.value]}
            for stage in LifecycleStage
            if by_stage.get(stage.value)
        ],
    }


# --- Reads for the pages: lists, record pages, forms, saved views and settings ----------------------------
# What the contact and account pages read besides the rows of a list, so that the views only parse the
# request, call these and the services, and render. Records still come from ``visible_to(user)``; a
# record page's related data is read in a fixed number of queries, however much the record holds.


def custom_fields_for(object_type: str) -> list[CustomField]:
    """The custom fields defined for contacts or accounts, in the order forms and list columns show them."""
    return list(CustomField.objects.filter(object_type=object_type).order_by("position", "label", "id"))


def custom_fields_all() -> list[CustomField]:
    """Every custom field, by record type and then in form order (for the settings page)."""
    return list(CustomField.objects.order_by("object_type", "position", "label", "id"))


def custom_field_get(*, field_id: int) -> CustomField:
    """One custom field; ``NotFound`` if there is no such field."""
    try:
        return CustomField.objects.get(pk=field_id)
    except CustomField.DoesNotExist:
        raise NotFound(f"No custom field with id {field_id}.") from None


def ordering_reversed(ordering: str) -> str:
    """The same list ordering the other way round (``name`` ↔ ``-name``)."""
    return ordering[1:] if ordering.startswith("-") else f"-{ordering}"


@dataclass
class ListPage:
    """One page of the contact or account list, and whether pages come before and after it.

    ``stale_cursor`` says the page link was out of date (or edited), so the list starts again from the top.
    """

    rows: list[Any]
    has_previous: bool
    has_next: bool
    stale_cursor: bool = False


def list_page(
    user: User,
    filters: ListFilters,
    *,
    object_type: str,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> ListPage:
    """The page of contacts or accounts after the ``after`` cursor, or before the ``before`` one.

    A page before a cursor is read in the reverse order and turned round, so both directions use the
    list's indexes. A cursor that can't be read gives the first page instead.
    """
    page: Callable[..., tuple[list[Any], str | None]] = (
        contact_page if object_type == ObjectType.CONTACT else account_page
    )
    try:
        if before:
            rows, more = page(
                user, replace(filters, ordering=ordering_reversed(filters.ordering)), cursor=before, limit=limit
            )
            rows.reverse()
            return ListPage(rows, has_previous=more is not None, has_next=True)
        rows, more = page(user, filters, cursor=after or None, limit=limit)
        return ListPage(rows, has_previous=bool(after), has_next=more is not None)
    except ValidationFailed:
        rows, more = page(user, filters, limit=limit)
        return ListPage(rows, has_previous=False, has_next=more is not None, stale_cursor=True)


def list_count(user: User, filters: ListFilters, *, object_type: str, cap: int) -> tuple[int, bool]:
    """How many contacts or accounts the user may see match the filters, counted up to ``cap``:
    ``(count, capped)``."""
    if object_type == ObjectType.CONTACT:
        return contacts_count(user, filters, cap)
    return count_capped(accounts_filtered(user, filters), cap)


def contact_counts_by_account(user: User, account_ids: Collection[int]) -> dict[int, int]:
    """How many contacts the user may see at each of these accounts, in one query (accounts with none are
    left out)."""
    counts = (
        Contact.objects.visible_to(user)
        .filter(account_id__in=list(account_ids))
        .order_by()
        .values_list("account_id")
        .annotate(n=models.Count("pk"))
    )
    return dict(counts)


def matching_ids_in_chunks(
    user: User, *, object_type: str, filters: ListFilters, chunk_size: int
) -> Iterator[list[int]]:
    """The ids of every contact or account the user may see that matches the filters, ``chunk_size`` at a
    time, walking the primary key (for a bulk action on "all matching"); each chunk is read when needed."""
    queryset: QuerySet[Any] = (
        contacts_filtered(user, filters) if object_type == ObjectType.CONTACT else accounts_filtered(user, filters)
    )
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def saved_views_for_list(user: User, *, object_type: str) -> list[SavedView]:
    """The saved views a list offers the user: their own and every shared one, by name."""
    return list(
        SavedView.objects.filter(object_type=object_type)
        .filter(Q(user=user) | Q(shared=True))
        .select_related("user")
        .order_by("name", "id")
    )


def saved_views_own_and_shared(user: User) -> tuple[list[SavedView], list[SavedView]]:
    """The user's own saved views, and those others shared, each by record type and name."""
    own = list(SavedView.objects.filter(user=user).order_by("object_type", "name"))
    shared = list(
        SavedView.objects.filter(shared=True).exclude(user=user).select_related("user").order_by("object_type", "name")
    )
    return own, shared


def visible_account(user: User, account_id: int) -> Account | None:
    """The account, if the user may see it."""
    return Account.objects.visible_to(user).filter(pk=account_id).first()


def visible_account_name(user: User, account_id: int) -> str | None:
    """The account's name, if the user may see it."""
    return Account.objects.visible_to(user).filter(pk=account_id).values_list("name", flat=True).first()


def visible_account_names(user: User, account_ids: Collection[int]) -> dict[int, str]:
    """The names of those of these accounts the user may see, by id (no query for no ids)."""
    if not account_ids:
        return {}
    return dict(Account.objects.visible_to(user).filter(pk__in=account_ids).values_list("pk", "name"))


def visible_contact(user: User, contact_id: int) -> Contact | None:
    """The contact, if the user may see it."""
    return Contact.objects.visible_to(user).filter(pk=contact_id).first()


def contact_id_with_email(email: str, *, exclude_id: int | None = None) -> int | None:
    """The id of the live contact that has this normalised email (other than ``exclude_id``), whoever may
    see it: emails are unique across all contacts."""
    if not email:
        return None
    # NOT (email = '') repeats the unique index's condition, so the lookup uses that index.
    others = Contact.objects.filter(email=email).exclude(email="")
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.values_list("pk", flat=True).first()


def account_suggestions(user: User, text: str, *, exclude_id: int | None = None, limit: int = 8) -> list[Account]:
    """Accounts the user may see whose name or domain matches what was typed in an account picker, by name."""
    found = Account.objects.visible_to(user).filter(search_accounts_q(text))
    if exclude_id is not None:
        found = found.exclude(pk=exclude_id)
    return list(found.order_by("name_key", "id")[:limit])


def contact_for_vcard(contact_id: int) -> Contact:
    """A contact with its account and tags loaded, for a vCard (the caller has checked the user may see it)."""
    return Contact.objects.select_related("account").prefetch_related("tags").get(pk=contact_id)


def import_file_names(job_ids: Collection[int]) -> dict[int, str]:
    """The name of the file each of these imports read, by import id (no query for no ids)."""
    if not job_ids:
        return {}
    return dict(ImportJob.objects.filter(pk__in=job_ids).values_list("pk", "original_name"))


def import_ids_openable(user: User, job_ids: Collection[int]) -> set[int]:
    """Those of these imports whose page the user may open: none unless their role may import; then their
    own, or every one for an admin (see ``import_jobs_visible``)."""
    if not job_ids or not can(user, "records.import"):
        return set()
    return set(importing.import_jobs_visible(actor=user).filter(pk__in=job_ids).values_list("pk", flat=True))


def record_data_sources(record: Contact | Account) -> dict[int, DataSource]:
    """The data sources a record's provenance points at, by id, with the user who wrote through each.

    Provenance written before data sources existed holds a dict instead of an id; those need no query.
    """
    ids = {v for v in record.provenance.values() if isinstance(v, int) and not isinstance(v, bool)}
    if not ids:
        return {}
    return {source.pk: source for source in DataSource.objects.filter(pk__in=ids).select_related("actor")}


@dataclass
class ContactDetails:
    """What a contact's page shows besides the contact's own fields.

    ``colleagues`` are the first ten other contacts at the account (when the user may see it), and
    ``colleague_count`` how many there are in all.
    """

    account: Account | None
    colleagues: list[Contact]
    colleague_count: int
    owner: User | None
    consent_changes: list[ConsentChange]
    stage_changes: list[LifecycleChange]
    history: list[AuditEntry]
    tags: list[Tag]
    data_sources: dict[int, DataSource]


def contact_details(user: User, contact: Contact) -> ContactDetails:
    """A contact's account, colleagues, owner, tags, consent and stage changes, newest history and data
    sources, in a fixed number of queries whatever the contact holds (one each, none for what it lacks);
    the account and colleagues only if the user may see them."""
    account = None
    colleagues: list[Contact] = []
    colleague_count = 0
    if contact.account_id:
        account = Account.objects.visible_to(user).select_related("owner").filter(pk=contact.account_id).first()
        if account is not None:
            others = Contact.objects.visible_to(user).filter(account_id=account.pk).exclude(pk=contact.pk)
            colleagues = list(others.order_by("last_name_key", "first_name_key", "id")[:10])
            colleague_count = len(colleagues) if len(colleagues) < 10 else others.count()
    owner = user_or_none(contact.owner_id)
    consent_changes = list(contact.consent_changes.select_related("actor")[:200])
    stage_changes = list(contact.stage_changes.select_related("actor")[:200])
    history = audit_history("contact", contact.pk, limit=100)
    tags = list(contact.tags.all())
    return ContactDetails(
        account=account,
        colleagues=colleagues,
        colleague_count=colleague_count,
        owner=owner,
        consent_changes=consent_changes,
        stage_changes=stage_changes,
        history=history,
        tags=tags,
        data_sources=record_data_sources(contact),
    )


@dataclass
class AccountContacts:
    """One page of an account's contacts, how many there are, and the cursor of the next page.

    ``paged`` says this is a later page, not the first.
    """

    contacts: list[Contact]
    next_cursor: str | None
    count: int
    capped: bool
    paged: bool


def account_contacts(user: User, account: Account, *, after: str | None = None, limit: int = 25) -> AccountContacts:
    """The contacts at an account the user may see, a page at a time; an unreadable cursor gives the first."""
    filters = ListFilters(account=account.pk)
    try:
        contacts, next_cursor = contact_page(user, filters, cursor=after, limit=limit)
    except ValidationFailed:
        contacts, next_cursor = contact_page(user, filters, limit=limit)
        after = None
    count, capped = count_capped(contacts_filtered(user, filters))
    return AccountContacts(contacts, next_cursor, count, capped, paged=bool(after))


@dataclass
class AccountDetails:
    """What an account's page shows besides its own fields and its contacts.

    ``parent`` and ``children`` hold only the accounts the user may see (the first fifty children, by name).
    """

    parent: Account | None
    children: list[Account]
    owner: User | None
    partner: PartnerOrganisation | None
    territory: Territory | None
    stage_changes: list[LifecycleChange]
    history: list[AuditEntry]
    data_sources: dict[int, DataSource]


def account_details(user: User, account: Account) -> AccountDetails:
    """An account's parent and child accounts, owner, partner organisation, territory, stage changes,
    newest history and data sources, in a fixed number of queries whatever the account holds (one each,
    none for what it lacks); the parent and children only if the user may see them."""
    visible = Account.objects.visible_to(user)
    parent = visible.filter(pk=account.parent_id).first() if account.parent_id else None
    children = list(visible.filter(parent_id=account.pk).select_related("owner").order_by("name_key", "id")[:50])
    owner = user_or_none(account.owner_id)
    partner = partner_organisation_or_none(account.partner_organisation_id)
    stage_changes = list(account.stage_changes.select_related("actor")[:200])
    history = audit_history("account", account.pk, limit=100)
    territory = account.territory if account.territory_id else None
    return AccountDetails(
        parent=parent,
        children=children,
        owner=owner,
        partner=partner,
        territory=territory,
        stage_changes=stage_changes,
        history=history,
        data_sources=record_data_sources(account),
    )
