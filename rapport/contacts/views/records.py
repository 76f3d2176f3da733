"""Pages for contacts and accounts: lists, record pages, forms, bulk actions, search, saved views, exports.

Views stay thin: reads go through ``rapport.contacts.queries`` (always starting from ``visible_to``),
writes through ``rapport.contacts.services``. A record the user may not see is a 404; an action their
role may not take is a 403. List views serve the whole page, or only the table when htmx asks.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods, require_POST

from rapport.contacts import exporting, importing, normalise, services
from rapport.contacts.forms import CUSTOM_PREFIX, AccountForm, ContactForm, owner_choices
from rapport.contacts.models import (
    Account,
    ConsentChannel,
    ConsentStatus,
    Contact,
    CustomField,
    ImportJob,
    LifecycleStage,
    ObjectType,
    Party,
    SavedView,
    Seniority,
    SizeBand,
)
from rapport.contacts.queries import (
    ACCOUNT_ORDERINGS,
    CONTACT_ORDERINGS,
    FULL_COUNT_CAP,
    PAGE_COUNT_CAP,
    ListFilters,
    account_page,
    accounts_filtered,
    audit_history,
    contact_page,
    contacts_count,
    contacts_filtered,
    count_capped,
    global_search,
    parse_filters,
    search_accounts_q,
)
from rapport.contacts.validation import Lookups, clean_account, clean_contact
from rapport.core.access import can
from rapport.core.db import encode_cursor
from rapport.core.errors import Conflict, FieldError, Forbidden, NotFound, RapportError, ValidationFailed
from rapport.core.models import AuditEntry, PartnerOrganisation, Role, User, Via

PAGE_SIZE = 50
RELATED_PAGE_SIZE = 25
BULK_CHUNK = 500
CURSOR_PARAMS = ("after", "before")
# Parameters that belong to the page, not to the list's filters (kept out of saved views and exports).
PAGE_PARAMS = (*CURSOR_PARAMS, "view", "cols")


_ID = re.compile(r"[0-9]{1,18}")


def _as_id(raw: object) -> int | None:
    """A record id typed in a URL or form, or None: ASCII digits only ("²".isdigit() is true) and no
    more than a bigint holds, so odd input is ignored rather than reaching the database."""
    text = str(raw if raw is not None else "").strip()
    return int(text) if _ID.fullmatch(text) else None


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require(user: User, capability: str) -> None:
    if not can(user, capability):
        raise PermissionDenied(f"Your role may not do this ({capability.replace('.', ': ').replace('_', ' ')}).")


def _render(request: HttpRequest, page: str, fragment: str, context: dict[str, Any]) -> HttpResponse:
    """The whole page, or only the fragment when htmx asks for it (not for history restores)."""
    partial = bool(request.htmx) and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    response = render(request, fragment if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _custom_fields(object_type: str) -> list[CustomField]:
    return list(CustomField.objects.filter(object_type=object_type).order_by("position", "label", "id"))


# --- Lists -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column a list can show; ``sort`` names the ordering it sorts by, if any."""

    key: str
    label: str
    sort: str = ""
    num: bool = False

    @property
    def custom_key(self) -> str:
        """The custom field's key for ``cf.<key>`` columns."""
        return self.key[3:] if self.key.startswith("cf.") else ""


CONTACT_COLUMNS = [
    Column("name", "Name", "name"),
    Column("email", "Email", "email"),
    Column("company", "Company"),
    Column("job_title", "Job title"),
    Column("seniority", "Seniority"),
    Column("stage", "Stage"),
    Column("owner", "Owner"),
    Column("country", "Country"),
    Column("tags", "Tags"),
    Column("updated", "Updated", "updated_at"),
    Column("phone", "Phone"),
    Column("department", "Department"),
    Column("city", "City"),
    Column("source", "Source"),
    Column("consent_email", "Email consent"),
    Column("created", "Created", "created_at"),
]
CONTACT_DEFAULT = ("name", "email", "company", "job_title", "seniority", "stage", "owner", "country", "tags", "updated")
ACCOUNT_COLUMNS = [
    Column("name", "Name", "name"),
    Column("domain", "Domain"),
    Column("industry", "Industry"),
    Column("size", "Size"),
    Column("country", "Country"),
    Column("owner", "Owner"),
    Column("partner", "Partner"),
    Column("stage", "Stage"),
    Column("contacts", "Contacts", num=True),
    Column("updated", "Updated", "updated_at"),
    Column("city", "City"),
    Column("revenue", "Annual revenue", num=True),
    Column("parent", "Parent account"),
    Column("created", "Created", "created_at"),
]
# Partner stays in the column chooser: most accounts aren't shared, and without it the default columns
# fit a 1280 px screen.
ACCOUNT_DEFAULT = ("name", "domain", "industry", "size", "country", "owner", "stage", "contacts", "updated")


def _available_columns(object_type: str, custom_fields: Sequence[CustomField]) -> list[Column]:
    base = CONTACT_COLUMNS if object_type == ObjectType.CONTACT else ACCOUNT_COLUMNS
    return [*base, *(Column(f"cf.{f.key}", f.label) for f in custom_fields)]


def _chosen_columns(params: QueryDict, available: Sequence[Column], object_type: str) -> list[Column]:
    """The columns named in ``cols`` (repeated or comma-separated), in the list's order; defaults if none."""
    wanted: set[str] = set()
    for value in params.getlist("cols"):
        wanted.update(part.strip() for part in value.split(",") if part.strip())
    if not wanted:
        wanted = set(CONTACT_DEFAULT if object_type == ObjectType.CONTACT else ACCOUNT_DEFAULT)
    chosen = [c for c in available if c.key in wanted]
    if not any(c.key == "name" for c in chosen):
        chosen.insert(0, available[0])  # the name links to the record, so it always shows
    return chosen


def _query(params: QueryDict, drop: Sequence[str] = PAGE_PARAMS, **changes: Any) -> str:
    """The query string of ``params`` without ``drop`` and with ``changes`` (None removes)."""
    copy = params.copy()
    for name in drop:
        copy.pop(name, None)
    for name, value in changes.items():
        copy.pop(name, None)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            copy.setlist(name, [str(v) for v in value])
        else:
            copy[name] = str(value)
    return copy.urlencode()


def _without_value(params: QueryDict, name: str, value: str | None = None) -> str:
    """The query string with one filter value (or the whole parameter) removed, for a chip's ✕."""
    copy = params.copy()
    for cursor in CURSOR_PARAMS:
        copy.pop(cursor, None)
    copy.pop("view", None)
    if value is None:
        copy.pop(name, None)
    else:
        remaining = [
            part.strip()
            for raw in copy.getlist(name)
            for part in raw.split(",")
            if part.strip() and part.strip().lower() != value.lower()
        ]
        copy.setlist(name, remaining)
    return copy.urlencode()


def _cursor_for(row: Any, order: Sequence[str]) -> str:
    values = []
    for name in order:
        value = getattr(row, name.lstrip("-"))
        values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return encode_cursor(values)


def _flip(ordering: str) -> str:
    return ordering[1:] if ordering.startswith("-") else f"-{ordering}"


@dataclass
class Chip:
    """One active filter, shown as a removable chip."""

    label: str
    value: str
    remove: str


def _chips(
    params: QueryDict,
    filters: ListFilters,
    object_type: str,
    user: User,
    users: dict[str, str],
    custom_fields: Sequence[CustomField],
) -> list[Chip]:
    from rapport.contacts.templatetags.records import country_name

    chips: list[Chip] = []
    if filters.q:
        chips.append(Chip("Search", filters.q, _without_value(params, "q")))
    if filters.owner:
        who = {"me": "me", "none": "no owner"}.get(filters.owner) or users.get(filters.owner, f"user {filters.owner}")
        chips.append(Chip("Owner", who, _without_value(params, "owner")))
    stages = dict(LifecycleStage.choices)
    for value in filters.stage:
        chips.append(Chip("Stage", str(stages[value]), _without_value(params, "stage", value)))
    for value in filters.country:
        chips.append(Chip("Country", country_name(value), _without_value(params, "country", value)))
    levels = dict(Seniority.choices)
    for value in filters.seniority:
        chips.append(Chip("Seniority", str(levels[value]), _without_value(params, "seniority", value)))
    for value in filters.tag:
        chips.append(Chip("Tag", value, _without_value(params, "tag", value)))
    if filters.account is not None:
        name = (
            Account.objects.visible_to(user).filter(pk=filters.account).values_list("name", flat=True).first()
            or f"#{filters.account}"
        )
        chips.append(Chip("Account", name, _without_value(params, "account")))
    if filters.consent_email:
        chips.append(Chip("Email consent", filters.consent_email, _without_value(params, "consent_email")))
    if filters.industry:
        chips.append(Chip("Industry", filters.industry, _without_value(params, "industry")))
    sizes = dict(SizeBand.choices)
    for value in filters.size_band:
        chips.append(Chip("Size", str(sizes[value]), _without_value(params, "size_band", value)))
    if filters.updated_since is not None:
        chips.append(
            Chip("Updated since", filters.updated_since.strftime("%Y-%m-%d"), _without_value(params, "updated_since"))
        )
    labels = {f.key: f.label for f in custom_fields}
    for key_, value in filters.custom.items():
        chips.append(Chip(labels.get(key_, key_), value, _without_value(params, f"cf.{key_}")))
    return chips


def _list_context(request: HttpRequest, object_type: str) -> dict[str, Any]:
    """Everything a contact or account list (page or fragment) shows, in a fixed number of queries."""
    user = _user(request)
    params = request.GET
    is_contact = object_type == ObjectType.CONTACT
    custom_fields = _custom_fields(object_type)
    available = _available_columns(object_type, custom_fields)
    columns = _chosen_columns(params, available, object_type)
    errors: list[FieldError] = []
    try:
        filters = parse_filters(params, object_type=object_type)
    except ValidationFailed as exc:
        errors = exc.errors
        filters = ListFilters()
    orderings = CONTACT_ORDERINGS if is_contact else ACCOUNT_ORDERINGS
    page: Callable[..., tuple[list[Any], str | None]] = contact_page if is_contact else account_page
    rows: list[Any] = []
    next_cursor = previous_cursor = None
    count, capped = 0, False
    cap = PAGE_COUNT_CAP
    if not errors:
        try:
            before = params.get("before")
            if before:
                reverse_filters = dataclasses.replace(filters, ordering=_flip(filters.ordering))
                rows, more = page(user, reverse_filters, cursor=before, limit=PAGE_SIZE)
                rows.reverse()
                has_previous, has_next = more is not None, True
            else:
                after = params.get("after")
                rows, more = page(user, filters, cursor=after or None, limit=PAGE_SIZE)
                has_previous, has_next = bool(after), more is not None
        except ValidationFailed as exc:
            errors = [FieldError("", "This page link is out of date; the list starts again from the top.")]
            del exc
            rows, more = page(user, filters, limit=PAGE_SIZE)
            has_previous, has_next = False, more is not None
        order = orderings[filters.ordering]
        if rows and has_next:
            next_cursor = _cursor_for(rows[-1], order)
        if rows and has_previous:
            previous_cursor = _cursor_for(rows[0], order)
        # A page counts up to 1,000 and says "1,000+"; "count all" (count=all) counts further.
        cap = FULL_COUNT_CAP if params.get("count") == "all" else PAGE_COUNT_CAP
        if is_contact:
            count, capped = contacts_count(user, filters, cap)
        else:
            count, capped = count_capped(accounts_filtered(user, filters), cap)
    internal = user.role != Role.PARTNER
    users = owner_choices()[1:] if internal else []
    user_names = dict(users)
    if not is_contact and rows:
        _attach_contact_counts(user, rows)
    views = list(
        SavedView.objects.filter(object_type=object_type)
        .filter(Q(user=user) | Q(shared=True))
        .select_related("user")
        .order_by("name", "id")
    )
    for view in views:
        view.url = saved_view_url(view)  # type: ignore[attr-defined]
    active_view = next((v for v in views if str(v.pk) == params.get("view")), None)
    filter_query = _query(params)
    columns_param = ",".join(c.key for c in columns)
    return {
        "object_type": object_type,
        "is_contact": is_contact,
        "rows": rows,
        "count": count,
        "capped": capped,
        "count_all_query": _query(params, drop=(), count="all") if capped and cap < FULL_COUNT_CAP else "",
        "filters": filters,
        "filtered": not filters.is_empty(),
        "errors": errors,
        "chips": [] if errors else _chips(params, filters, object_type, user, user_names, custom_fields),
        "columns": columns,
        "column_keys": [c.key for c in columns],
        "available_columns": available,
        "default_columns": list(CONTACT_DEFAULT if is_contact else ACCOUNT_DEFAULT),
        "custom_fields": custom_fields,
        "ordering": filters.ordering,
        "headers": [_header(params, c, filters.ordering) for c in columns],
        "clear_url": reverse("contacts:contact_list" if is_contact else "contacts:account_list")
        + (f"?{urlencode([('cols', v) for v in params.getlist('cols')])}" if "cols" in params else ""),
        "more_filters_open": bool(
            filters.country
            or filters.tag
            or filters.consent_email
            or filters.custom
            or filters.industry
            or filters.updated_since
            or filters.account is not None
        ),
        "next_query": _query(params, drop=("before", "after"), after=next_cursor) if next_cursor else "",
        "previous_query": _query(params, drop=("before", "after"), before=previous_cursor) if previous_cursor else "",
        "first_query": _query(params, drop=("before", "after")) if previous_cursor else "",
        "filter_query": filter_query,
        "columns_param": columns_param,
        "export_query": _query(params, drop=(*CURSOR_PARAMS, "view", "cols")),
        "save_query": _query(params, drop=(*CURSOR_PARAMS, "view")),
        "list_url": reverse("contacts:contact_list" if is_contact else "contacts:account_list"),
        "users": users,
        "internal": internal,
        "saved_views": views,
        "active_view": active_view,
        "stages": LifecycleStage.choices,
        "seniorities": Seniority.choices,
        "size_bands": SizeBand.choices,
        "consent_statuses": ConsentStatus.choices,
        "can_export": can(user, "records.export"),
        "can_bulk": can(user, "records.bulk_edit"),
        "can_delete": can(user, "records.delete"),
        "page_ids": [r.pk for r in rows],
        "custom_filter_values": filters.custom,
    }


def _header(params: QueryDict, column: Column, ordering: str) -> dict[str, Any]:
    """A column header: its label, and for sortable columns the link that sorts (or reverses) by it."""
    if not column.sort:
        return {"column": column, "link": "", "state": ""}
    state = "ascending" if ordering == column.sort else "descending" if ordering == f"-{column.sort}" else ""
    # Dates read best newest first; names and emails A to Z.
    first = f"-{column.sort}" if column.sort.endswith("_at") else column.sort
    target = _flip(ordering) if state else first
    return {"column": column, "link": _query(params, drop=(*CURSOR_PARAMS, "view"), ordering=target), "state": state}


def _attach_contact_counts(user: User, accounts: Sequence[Account]) -> None:
    """Count the contacts the user may see at each account on the page, in one query."""
    counts = dict(
        Contact.objects.visible_to(user)
        .filter(account_id__in=[a.pk for a in accounts])
        .order_by()
        .values_list("account_id")
        .annotate(n=Count("pk"))
    )
    for account in accounts:
        account.contact_count = counts.get(account.pk, 0)  # type: ignore[attr-defined]


@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    """The contact list: search, filters, sort, columns, saved views, bulk actions, keyset pages."""
    context = _list_context(request, ObjectType.CONTACT)
    return _render(request, "contacts/contact_list.html", "contacts/_list_results.html", context)


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    """The account list, built like the contact list."""
    context = _list_context(request, ObjectType.ACCOUNT)
    return _render(request, "contacts/account_list.html", "contacts/_list_results.html", context)


# --- Bulk actions --------------------------------------------------------------------------------------


def _matching_id_chunks(user: User, object_type: str, filters: ListFilters) -> Iterator[list[int]]:
    """Ids of all visible records matching the filters, in chunks, walking the primary key."""
    queryset = (
        contacts_filtered(user, filters) if object_type == ObjectType.CONTACT else accounts_filtered(user, filters)
    )
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BULK_CHUNK])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _ticked_ids(request: HttpRequest) -> list[int]:
    return sorted({i for i in map(_as_id, request.POST.getlist("ids")) if i is not None})


def _bulk(request: HttpRequest, object_type: str) -> HttpResponse:
    user = _user(request)
    is_contact = object_type == ObjectType.CONTACT
    query = request.POST.get("query", "")
    back = reverse("contacts:contact_list" if is_contact else "contacts:account_list") + (f"?{query}" if query else "")
    action = request.POST.get("action", "")
    chunks: list[list[int]] | Iterator[list[int]]
    if request.POST.get("all_matching"):
        try:
            filters = parse_filters(QueryDict(query), object_type=object_type)
        except ValidationFailed as exc:
            messages.error(request, str(exc))
            return redirect(back)
        chunks = _matching_id_chunks(user, object_type, filters)
    else:
        ids = _ticked_ids(request)
        if not ids:
            messages.warning(request, "Tick at least one row first.")
            return redirect(back)
        chunks = [ids]
    action_call = _bulk_action(request, object_type, action)
    if action_call is None:
        messages.error(request, "Choose what to do with the selected rows.")
        return redirect(back)
    call, describe = action_call
    done = 0
    try:
        for chunk in chunks:
            done += call(chunk)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except RapportError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    noun = ("contact" if is_contact else "account") + ("" if done == 1 else "s")
    messages.success(request, describe(f"{done:,} {noun}"))
    return redirect(back)


def _bulk_action(
    request: HttpRequest, object_type: str, action: str
) -> tuple[Callable[[list[int]], int], Callable[[str], str]] | None:
    """The service call for a bulk action and the sentence describing what it did."""
    user = _user(request)
    post = request.POST
    is_contact = object_type == ObjectType.CONTACT
    if action == "assign_owner":
        raw = post.get("owner_id", "").strip()
        owner_id = _as_id(raw)
        if raw and owner_id is None:
            return None
        owner = User.objects.filter(pk=owner_id).first() if owner_id else None
        who = owner.display_name if owner else "no owner"
        assign = services.contacts_assign_owner if is_contact else services.accounts_assign_owner
        key = "contact_ids" if is_contact else "account_ids"
        return (
            lambda ids: assign(actor=user, via=Via.PAGE, owner_id=owner_id, **{key: ids}),  # type: ignore[operator]
            lambda n: f"Assigned {n} to {who}.",
        )
    if action == "set_stage":
        stage = post.get("stage", "")
        label = dict(LifecycleStage.choices).get(stage, stage)
        if is_contact:
            return (
                lambda ids: services.contacts_set_stage(actor=user, via=Via.PAGE, contact_ids=ids, stage=stage),
                lambda n: f"Moved {n} to {label}.",
            )
        return (
            lambda ids: services.accounts_set_stage(actor=user, via=Via.PAGE, account_ids=ids, stage=stage),
            lambda n: f"Moved {n} to {label}.",
        )
    if action == "tag" and is_contact:
        tag = post.get("tag", "").strip()
        if not tag:
            return None
        return (
            lambda ids: services.contacts_tag(actor=user, via=Via.PAGE, contact_ids=ids, add=[tag]),
            lambda n: f"Tagged {n} with “{tag}”.",
        )
    if action == "delete":
        if is_contact:
            return (
                lambda ids: services.contacts_delete(actor=user, via=Via.PAGE, contact_ids=ids),
                lambda n: f"Deleted {n}.",
            )
        return (
            lambda ids: services.accounts_delete(actor=user, via=Via.PAGE, account_ids=ids),
            lambda n: f"Deleted {n}.",
        )
    return None


@login_required
@require_POST
def contact_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner, add a tag, change the stage or delete the ticked contacts (or all matching)."""
    return _bulk(request, ObjectType.CONTACT)


@login_required
@require_POST
def account_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner, change the stage or delete the ticked accounts (or all matching)."""
    return _bulk(request, ObjectType.ACCOUNT)


# --- Record pages --------------------------------------------------------------------------------------

FIELD_LABELS = {
    "account_id": "Account",
    "owner_id": "Owner",
    "parent_id": "Parent account",
    "partner_organisation_id": "Partner organisation",
    "consent_email": "Email consent",
    "consent_phone": "Phone consent",
    "consent_sms": "SMS consent",
    "consent_post": "Post consent",
    "seniority_manual": "Seniority set by hand",
    "deleted_at": "Deleted",
    "size_band": "Size",
    "external_id": "External id",
    "tags": "Tags",
    "custom": "Custom fields",
    "annual_revenue": "Annual revenue",
}


def _label(model: type[Contact] | type[Account], name: str, custom_labels: dict[str, str]) -> str:
    if name.startswith("custom."):
        return custom_labels.get(name[7:], name[7:])
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    try:
        return capfirst(str(getattr(model._meta.get_field(name), "verbose_name", name)))
    except Exception:
        return capfirst(name.replace("_", " "))


@dataclass
class Change:
    """One field's change in an audit entry, ready to show."""

    label: str
    old: str
    new: str


@dataclass
class ImportRef:
    """The import an audit entry came from, named for people ("import #12 (leads.csv)"); ``url`` is set
    only for users who may open the import's page."""

    job_id: int
    name: str
    url: str = ""

    def __str__(self) -> str:
        return f"import #{self.job_id} ({self.name})" if self.name else f"import #{self.job_id}"


@dataclass
class HistoryItem:
    """An audit entry with its field changes in words, and the import that made it, if one did."""

    entry: AuditEntry
    changes: list[Change]
    source_import: ImportRef | None = None


# Imports note their job on the audit entries they write; a created record's values are on the record
# and its provenance, so its entry has no field changes.
_IMPORT_NOTE = re.compile(r"import #([0-9]{1,18})")


def _import_refs(user: User, entries: Sequence[AuditEntry]) -> dict[int, ImportRef]:
    """The imports named in the entries' notes, with a link for those the user may open (two queries at most)."""
    ids: set[int] = set()
    for entry in entries:
        found = _IMPORT_NOTE.fullmatch(entry.note or "")
        if found:
            ids.add(int(found.group(1)))
    if not ids:
        return {}
    names = dict(ImportJob.objects.filter(pk__in=ids).values_list("pk", "original_name"))
    openable: set[int] = set()
    if can(user, "records.import"):
        openable = set(importing.import_jobs_visible(actor=user).filter(pk__in=ids).values_list("pk", flat=True))
    return {
        pk: ImportRef(pk, names.get(pk, ""), reverse("contacts:import_detail", args=[pk]) if pk in openable else "")
        for pk in ids
    }


class _Names:
    """Names for the ids found in audit entries (users, accounts the viewer may see, partner organisations)."""

    def __init__(self, user: User, entries: Sequence[AuditEntry]) -> None:
        users: set[int] = set()
        accounts: set[int] = set()
        partners: set[int] = set()
        for entry in entries:
            for name, pair in entry.changes.items():
                values = [v for v in pair if isinstance(v, int) and not isinstance(v, bool)]
                if name == "owner_id":
                    users.update(values)
                elif name in ("account_id", "parent_id"):
                    accounts.update(values)
                elif name == "partner_organisation_id":
                    partners.update(values)
        self.users = {u.pk: u.display_name for u in User.objects.filter(pk__in=users)} if users else {}
        self.accounts = (
            dict(Account.objects.visible_to(user).filter(pk__in=accounts).values_list("pk", "name")) if accounts else {}
        )
        self.partners = (
            dict(PartnerOrganisation.objects.filter(pk__in=partners).values_list("pk", "name")) if partners else {}
        )

    def show(self, name: str, value: object) -> str:
        if value is None or value == "" or value == [] or value == {}:
            return "—"
        if name == "owner_id":
            return self.users.get(value, f"user #{value}")  # type: ignore[call-overload]
        if name in ("account_id", "parent_id"):
            return self.accounts.get(value, f"account #{value}")  # type: ignore[call-overload]
        if name == "partner_organisation_id":
            return self.partners.get(value, f"#{value}")  # type: ignore[call-overload]
        if name == "lifecycle_stage":
            return str(dict(LifecycleStage.choices).get(str(value), value))
        if name == "seniority":
            return str(dict(Seniority.choices).get(str(value), value))
        if name.startswith("consent_"):
            return str(dict(ConsentStatus.choices).get(str(value), value))
        if name == "country":
            from rapport.contacts.templatetags.records import country_name

            return f"{country_name(str(value))} ({value})"
        if name == "phone":
            return normalise.phone_display(str(value))
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "—"
        if isinstance(value, dict):
            return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
        if name == "deleted_at":
            return str(value)[:19].replace("T", " ")
        return str(value)


def _history(
    user: User, entries: Sequence[AuditEntry], model: type[Contact] | type[Account], custom_labels: dict[str, str]
) -> list[HistoryItem]:
    """Audit entries with each field's old → new value in words."""
    names = _Names(user, entries)
    imports = _import_refs(user, entries)
    items = []
    for entry in entries:
        found = _IMPORT_NOTE.fullmatch(entry.note or "")
        source_import = imports.get(int(found.group(1))) if found else None
        changes: list[Change] = []
        for name, pair in entry.changes.items():
            old, new = [*list(pair), None, None][:2]
            if name == "custom" and isinstance(old, dict | type(None)) and isinstance(new, dict):
                old = old or {}
                for key_ in sorted(set(old) | set(new), key=lambda k: custom_labels.get(k, k)):
                    if old.get(key_) != new.get(key_):
                        changes.append(
                            Change(
                                custom_labels.get(key_, key_),
                                names.show("custom", old.get(key_)),
                                names.show("custom", new.get(key_)),
                            )
                        )
                continue
            if name == "tags" and isinstance(old, dict) and isinstance(new, dict):
                added, removed = new.get("added") or [], old.get("removed") or []
                changes.append(
                    Change(
                        "Tags",
                        f"removed {', '.join(removed)}" if removed else "—",
                        f"added {', '.join(added)}" if added else "—",
                    )
                )
                continue
            changes.append(Change(_label(model, name, custom_labels), names.show(name, old), names.show(name, new)))
        items.append(HistoryItem(entry, changes, source_import))
    return items


@dataclass
class TimelineItem:
    """Something that happened to a record, for its timeline."""

    at: Any
    icon: str
    title: str
    detail: str
    actor: User | None
    via: str
    source_import: ImportRef | None = None


def _timeline(
    history: Sequence[HistoryItem], stage_changes: Sequence[Any], consent_changes: Sequence[Any]
) -> list[TimelineItem]:
    """Lifecycle-stage changes, consent changes and audit entries, newest first."""
    stages = dict(LifecycleStage.choices)
    statuses = dict(ConsentStatus.choices)
    channels = dict(ConsentChannel.choices)
    items: list[TimelineItem] = []
    for change in stage_changes:
        title = (
            f"Lifecycle stage: {stages.get(change.from_stage, change.from_stage)} → {stages.get(change.to_stage)}"
            if change.from_stage
            else f"Entered the lifecycle as {stages.get(change.to_stage)}"
        )
        items.append(TimelineItem(change.at, "bi-signpost-split", title, "", change.actor, change.get_via_display()))
    for change in consent_changes:
        title = (
            f"{channels.get(change.channel)} consent: {statuses.get(change.previous)} → {statuses.get(change.status)}"
        )
        items.append(
            TimelineItem(change.at, "bi-shield-check", title, change.source, change.actor, change.get_via_display())
        )
    icons = {
        "create": "bi-plus-circle",
        "update": "bi-pencil",
        "delete": "bi-trash",
        "merge": "bi-union",
        "restore": "bi-arrow-counterclockwise",
    }
    for item in history:
        entry = item.entry
        fields = [c.label for c in item.changes]
        detail = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
        if item.source_import is not None:
            title = f"{entry.get_action_display()} by"  # the template adds the import, linked
        else:
            title = entry.get_action_display() + (f": {entry.note}" if entry.note else "")
        items.append(
            TimelineItem(
                entry.at,
                icons.get(entry.action, "bi-dot"),
                title,
                detail,
                entry.actor,
                entry.get_via_display(),
                item.source_import,
            )
        )
    items.sort(key=lambda i: i.at, reverse=True)
    return items


@dataclass
class ProvenanceGroup:
    """One source of data (party, name, door, time) and the attributes it last wrote."""

    party: str
    source: str
    via: str
    at: Any
    fields: list[str]

    @property
    def detail(self) -> str:
        """The source and door in a few words, without saying "Page" twice ("Page: alice", not "… via Page")."""
        if self.source.startswith(f"{self.via}:"):
            return self.source
        return " · ".join(part for part in (self.source, f"via {self.via}") if part)


def _source_name(source: Any, vias: dict[str, str]) -> str:
    """A data source's name, with the person who wrote through a page or the API named as people know
    them: sources saved before names were used read "Page: alice" for the user alice."""
    actor = source.actor
    door = vias.get(source.via, source.via)
    if actor is not None and source.name == f"{door}: {actor.username}":
        return f"{door}: {actor.display_name}"
    return str(source.name)


def _provenance(record: Contact | Account, custom_labels: dict[str, str]) -> list[ProvenanceGroup]:
    """Each attribute's source, grouped by source, newest first.

    ``provenance`` maps a field to a ``DataSource`` id (or, in rows written before those existed, a dict).
    """
    from rapport.contacts import models as contact_models

    parties = dict(Party.choices)
    vias = dict(Via.choices)
    model = type(record)
    stamps = {name: value for name, value in record.provenance.items() if isinstance(value, int | dict)}
    ids = {v for v in stamps.values() if isinstance(v, int) and not isinstance(v, bool)}
    sources: dict[int, Any] = {}
    data_source = getattr(contact_models, "DataSource", None)
    if ids and data_source is not None:
        sources = {s.pk: s for s in data_source.objects.filter(pk__in=ids).select_related("actor")}
    groups: dict[tuple[str, str, str, str], ProvenanceGroup] = {}
    for name, value in stamps.items():
        label = _label(model, name, custom_labels) if name != "custom" else "Custom fields"
        if isinstance(value, dict):
            party, source, via, at = (str(value.get(k, "")) for k in ("party", "source", "via", "at"))
            moment: Any = at
        elif value in sources:
            found = sources[value]
            party, source, via, moment = found.party, _source_name(found, vias), found.via, found.at
        else:
            continue
        key_ = (party, source, via, str(moment))
        if key_ not in groups:
            groups[key_] = ProvenanceGroup(
                str(parties.get(party, party)), str(source), str(vias.get(via, via)), moment, []
            )
        groups[key_].fields.append(label)
    for group in groups.values():
        group.fields.sort()
    return sorted(groups.values(), key=lambda g: str(g.at), reverse=True)


def _custom_values(record: Contact | Account, custom_fields: Sequence[CustomField]) -> list[tuple[CustomField, Any]]:
    return [(f, record.custom.get(f.key)) for f in custom_fields]


def _get_contact(user: User, pk: int) -> Contact:
    try:
        return services.contact_get(actor=user, contact_id=pk)
    except NotFound:
        raise Http404("No such contact.") from None


def _get_account(user: User, pk: int) -> Account:
    try:
        return services.account_get(actor=user, account_id=pk)
    except NotFound:
        raise Http404("No such account.") from None


@login_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A contact's page: properties, timeline and history, and the account, tags, consent and provenance."""
    user = _user(request)
    contact = _get_contact(user, pk)
    custom_fields = _custom_fields(ObjectType.CONTACT)
    custom_labels = {f.key: f.label for f in custom_fields}
    account = None
    colleagues: list[Contact] = []
    colleague_count = 0
    if contact.account_id:
        account = Account.objects.visible_to(user).select_related("owner").filter(pk=contact.account_id).first()
        if account is not None:
            others = Contact.objects.visible_to(user).filter(account_id=account.pk).exclude(pk=contact.pk)
            colleagues = list(others.order_by("last_name_key", "first_name_key", "id")[:10])
            colleague_count = len(colleagues) if len(colleagues) < 10 else others.count()
    owner = User.objects.filter(pk=contact.owner_id).first() if contact.owner_id else None
    consent_changes = list(contact.consent_changes.select_related("actor")[:200])
    vias = dict(Via.choices)
    for change in consent_changes:
        # The default source repeats the door and the user ("Page: alice"); show only a real "how".
        change.how = "" if change.source.startswith(f"{vias.get(change.via, change.via)}:") else change.source  # type: ignore[attr-defined]
    stage_changes = list(contact.stage_changes.select_related("actor")[:200])
    history = _history(user, audit_history("contact", contact.pk, limit=100), Contact, custom_labels)
    consent = [
        {
            "channel": channel,
            "status": getattr(contact, f"consent_{channel.value}"),
            "changes": [c for c in consent_changes if c.channel == channel.value],
        }
        for channel in ConsentChannel
    ]
    context = {
        "contact": contact,
        "account": account,
        "owner": owner,
        "colleagues": colleagues,
        "colleague_count": colleague_count,
        "tags": list(contact.tags.all()),
        "consent": consent,
        "custom_values": _custom_values(contact, custom_fields),
        "history": history,
        "timeline": _timeline(history, stage_changes, consent_changes),
        "provenance": _provenance(contact, custom_labels),
        "can_delete": can(user, "records.delete"),
        "can_export": can(user, "records.export"),
    }
    return render(request, "contacts/contact_detail.html", context)


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An account's page: properties, its contacts (paged), timeline and history, parent and child accounts."""
    user = _user(request)
    account = _get_account(user, pk)
    filters = ListFilters(account=account.pk)
    after = request.GET.get("after") or None
    try:
        contacts, next_cursor = contact_page(user, filters, cursor=after, limit=RELATED_PAGE_SIZE)
    except ValidationFailed:
        contacts, next_cursor = contact_page(user, filters, limit=RELATED_PAGE_SIZE)
        after = None
    contact_count, contacts_capped = count_capped(contacts_filtered(user, filters))
    related = {
        "account": account,
        "contacts": contacts,
        "contact_count": contact_count,
        "contacts_capped": contacts_capped,
        "contacts_next": urlencode({"after": next_cursor}) if next_cursor else "",
        "contacts_paged": bool(after),
    }
    if request.htmx and not request.htmx.history_restore_request:  # type: ignore[attr-defined]
        response = render(request, "contacts/_account_contacts.html", related)
        patch_vary_headers(response, ("HX-Request",))
        return response
    custom_fields = _custom_fields(ObjectType.ACCOUNT)
    custom_labels = {f.key: f.label for f in custom_fields}
    visible = Account.objects.visible_to(user)
    parent = visible.filter(pk=account.parent_id).first() if account.parent_id else None
    children = list(visible.filter(parent_id=account.pk).select_related("owner").order_by("name_key", "id")[:50])
    owner = User.objects.filter(pk=account.owner_id).first() if account.owner_id else None
    partner = (
        PartnerOrganisation.objects.filter(pk=account.partner_organisation_id).first()
        if account.partner_organisation_id
        else None
    )
    stage_changes = list(account.stage_changes.select_related("actor")[:200])
    history = _history(user, audit_history("account", account.pk, limit=100), Account, custom_labels)
    context = {
        **related,
        "parent": parent,
        "children": children,
        "owner": owner,
        "partner": partner,
        "territory": account.territory if account.territory_id else None,
        "custom_values": _custom_values(account, custom_fields),
        "history": history,
        "timeline": _timeline(history, stage_changes, []),
        "provenance": _provenance(account, custom_labels),
        "can_delete": can(user, "records.delete"),
        "can_export": can(user, "records.export"),
    }
    return render(request, "contacts/account_detail.html", context)


# --- Forms ---------------------------------------------------------------------------------------------


def _account_choice(user: User, value: object) -> Account | None:
    """The account a combobox currently points at, if the user may see it."""
    pk = _as_id(value)
    if pk is None:
        return None
    return Account.objects.visible_to(user).filter(pk=pk).first()


def _contact_form_page(
    request: HttpRequest, form: ContactForm, contact: Contact | None, *, status: int | None = None, **extra: Any
) -> HttpResponse:
    user = _user(request)
    context = {
        "form": form,
        "contact": contact,
        "account_choice": _account_choice(user, form["account_id"].value()),
        "validate_url": _validate_url("contacts:contact_validate", contact),
        **extra,
    }
    return render(request, "contacts/contact_form.html", context, status=status or (422 if form.errors else 200))


def _validate_url(name: str, record: Contact | Account | None) -> str:
    url = reverse(name)
    return f"{url}?pk={record.pk}" if record is not None else url


def _email_holder(raw: str, *, exclude_id: int | None = None) -> int | None:
    """The live contact that already has this email (as typed, normalised), if any."""
    try:
        email = normalise.email(raw or "")
    except ValueError:
        return None
    if not email:
        return None
    others = Contact.objects.filter(email=email)
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.values_list("pk", flat=True).first()


def _with_duplicate_email(
    user: User, form: ContactForm, errors: Sequence[FieldError], *, exclude_id: int | None = None
) -> tuple[list[FieldError], Contact | None]:
    """Add the duplicate-email error the service would raise next, so that one submit shows every problem."""
    if any(e.field == "email" for e in errors):
        return list(errors), None
    holder = _email_holder(form.cleaned_data.get("email", ""), exclude_id=exclude_id)
    if holder is None:
        return list(errors), None
    return [*errors, FieldError("email", "is already used by another contact.")], _duplicate(user, holder)


def _duplicate(user: User, existing_id: int | None) -> Contact | None:
    """The contact a duplicate email belongs to, if the user may see it (to link to it)."""
    if existing_id is None:
        return None
    return Contact.objects.visible_to(user).filter(pk=existing_id).first()


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    """Create a contact; problems are shown next to their fields."""
    user = _user(request)
    _require(user, "records.change")
    custom_fields = _custom_fields(ObjectType.CONTACT)
    validate_url = _validate_url("contacts:contact_validate", None)
    if request.method == "POST":
        form = ContactForm(request.POST, user=user, custom_fields=custom_fields, validate_url=validate_url)
        form.is_valid()
        try:
            contact = services.contact_create(actor=user, via=Via.PAGE, data=form.service_data(), from_text=True)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _contact_form_page(request, form, None, status=409, duplicate=_duplicate(user, exc.existing_id))
        except ValidationFailed as exc:
            errors, duplicate = _with_duplicate_email(user, form, exc.errors)
            form.add_service_errors(errors, exc.message)
            return _contact_form_page(request, form, None, duplicate=duplicate)
        messages.success(request, f"Created {contact}.")
        return redirect(contact)
    # Consent starts unknown on every channel: nobody has agreed to anything yet.
    initial: dict[str, Any] = {"lifecycle_stage": LifecycleStage.LEAD}
    initial.update({f"consent_{c.value}": ConsentStatus.UNKNOWN for c in ConsentChannel})
    if user.role in (Role.SALES_REP, Role.SALES_MANAGER):
        initial["owner_id"] = user.pk
    if _as_id(request.GET.get("account")) is not None:
        initial["account_id"] = request.GET["account"].strip()
    form = ContactForm(initial=initial, user=user, custom_fields=custom_fields, validate_url=validate_url)
    return _contact_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a contact; a change made by someone else meanwhile is refused with the form kept."""
    user = _user(request)
    contact = _get_contact(user, pk)
    custom_fields = _custom_fields(ObjectType.CONTACT)
    validate_url = _validate_url("contacts:contact_validate", contact)
    if request.method == "POST":
        # Compared with the record as it is now, so only what the user changed is written.
        form = ContactForm(
            request.POST,
            initial=ContactForm.initial_for(contact, custom_fields),
            user=user,
            custom_fields=custom_fields,
            validate_url=validate_url,
        )
        form.is_valid()
        version = form.cleaned_data.get("version")
        try:
            contact = services.contact_update(
                actor=user,
                via=Via.PAGE,
                contact_id=contact.pk,
                data=form.service_data(only=form.changed_fields()),
                expected_version=version,
                from_text=True,
            )
        except NotFound:
            raise Http404("No such contact.") from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            if exc.errors:
                form.add_service_errors(exc.errors, exc.message)
                return _contact_form_page(
                    request, form, contact, status=409, duplicate=_duplicate(user, exc.existing_id)
                )
            form.add_service_errors(
                [],
                "Someone else changed this contact since you opened it. Your changes are "
                "below, not saved: open the latest version, then make them again.",
            )
            return _contact_form_page(request, form, contact, status=409, stale=True)
        except ValidationFailed as exc:
            errors, duplicate = _with_duplicate_email(user, form, exc.errors, exclude_id=contact.pk)
            form.add_service_errors(errors, exc.message)
            return _contact_form_page(request, form, contact, duplicate=duplicate)
        messages.success(request, f"Saved {contact}.")
        return redirect(contact)
    form = ContactForm(
        initial=ContactForm.initial_for(contact, custom_fields),
        user=user,
        custom_fields=custom_fields,
        validate_url=validate_url,
    )
    return _contact_form_page(request, form, contact)


def _account_form_page(
    request: HttpRequest, form: AccountForm, account: Account | None, *, status: int | None = None, **extra: Any
) -> HttpResponse:
    user = _user(request)
    context = {
        "form": form,
        "account": account,
        "parent_choice": _account_choice(user, form["parent_id"].value()),
        "validate_url": _validate_url("contacts:account_validate", account),
        **extra,
    }
    return render(request, "contacts/account_form.html", context, status=status or (422 if form.errors else 200))


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    """Create an account; problems are shown next to their fields."""
    user = _user(request)
    _require(user, "records.change")
    custom_fields = _custom_fields(ObjectType.ACCOUNT)
    validate_url = _validate_url("contacts:account_validate", None)
    if request.method == "POST":
        form = AccountForm(request.POST, user=user, custom_fields=custom_fields, validate_url=validate_url)
        form.is_valid()
        try:
            account = services.account_create(actor=user, via=Via.PAGE, data=form.service_data(), from_text=True)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except RapportError as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _account_form_page(request, form, None)
        messages.success(request, f"Created {account}.")
        return redirect(account)
    initial: dict[str, Any] = {"lifecycle_stage": LifecycleStage.LEAD, "currency": "USD"}
    if user.role in (Role.SALES_REP, Role.SALES_MANAGER):
        initial["owner_id"] = user.pk
    form = AccountForm(initial=initial, user=user, custom_fields=custom_fields, validate_url=validate_url)
    return _account_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit an account; a change made by someone else meanwhile is refused with the form kept."""
    user = _user(request)
    account = _get_account(user, pk)
    custom_fields = _custom_fields(ObjectType.ACCOUNT)
    validate_url = _validate_url("contacts:account_validate", account)
    if request.method == "POST":
        form = AccountForm(
            request.POST,
            initial=AccountForm.initial_for(account, custom_fields),
            user=user,
            custom_fields=custom_fields,
            validate_url=validate_url,
        )
        form.is_valid()
        try:
            account = services.account_update(
                actor=user,
                via=Via.PAGE,
                account_id=account.pk,
                data=form.service_data(only=form.changed_fields()),
                expected_version=form.cleaned_data.get("version"),
                from_text=True,
            )
        except NotFound:
            raise Http404("No such account.") from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            if exc.errors or "external id" in exc.message:
                form.add_service_errors(
                    exc.errors or [FieldError("external_id", "is already used by another account.")], exc.message
                )
                return _account_form_page(request, form, account)
            form.add_service_errors(
                [],
                "Someone else changed this account since you opened it. Your changes are "
                "below, not saved: open the latest version, then make them again.",
            )
            return _account_form_page(request, form, account, status=409, stale=True)
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _account_form_page(request, form, account)
        messages.success(request, f"Saved {account}.")
        return redirect(account)
    form = AccountForm(
        initial=AccountForm.initial_for(account, custom_fields),
        user=user,
        custom_fields=custom_fields,
        validate_url=validate_url,
    )
    return _account_form_page(request, form, account)


def _field_check(request: HttpRequest, object_type: str) -> HttpResponse:
    """Check one input of a record form as soon as it changes, with the same rules as saving."""
    user = _user(request)
    is_contact = object_type == ObjectType.CONTACT
    custom_fields = _custom_fields(object_type)
    form_class = ContactForm if is_contact else AccountForm
    form = form_class(request.POST, user=user, custom_fields=custom_fields)
    form.is_valid()
    name = (request.htmx.trigger_name if request.htmx else None) or request.POST.get("_field", "")  # type: ignore[attr-defined]
    if name not in form.fields:
        return HttpResponse("")
    data = form.service_data()
    if name.startswith(CUSTOM_PREFIX):
        key_ = name[len(CUSTOM_PREFIX) :]
        subset: dict[str, Any] = {"custom": {key_: data.get("custom", {}).get(key_)}}
    elif name.startswith("consent_"):
        subset = {"consent": {name[8:]: data["consent"].get(name[8:])}}
    else:
        subset = {name: data.get(name, "")}
        if name == "phone":
            subset["country"] = data.get("country", "")
    problems: list[str] = []
    lookups = Lookups.load(actor=user, object_type=object_type)
    try:
        cleaned = (clean_contact if is_contact else clean_account)(subset, lookups, partial=True, from_text=True)
    except ValidationFailed as exc:
        cleaned = {}
        problems = [e.message for e in exc.errors if form.service_field(e.field, e.message) == name]
    duplicate = None
    taken = False
    if is_contact and name == "email" and not problems and cleaned.get("email"):
        pk = request.GET.get("pk", "")
        existing_id = _email_holder(cleaned["email"], exclude_id=_as_id(pk))
        if existing_id is not None:
            taken = True
            duplicate = _duplicate(user, existing_id)
    from rapport.contacts.forms import _sentence

    label = str(form.fields[name].label)
    errors = [_sentence(label, p) for p in problems]
    if taken:
        errors.append(f"{label} is already used by another contact.")
    return render(request, "contacts/_field_errors.html", {"errors": errors, "duplicate": duplicate})


@login_required
@require_POST
def contact_validate(request: HttpRequest) -> HttpResponse:
    """htmx: the errors for one contact form input, or nothing."""
    return _field_check(request, ObjectType.CONTACT)


@login_required
@require_POST
def account_validate(request: HttpRequest) -> HttpResponse:
    """htmx: the errors for one account form input, or nothing."""
    return _field_check(request, ObjectType.ACCOUNT)


@login_required
def account_suggest(request: HttpRequest) -> HttpResponse:
    """htmx: accounts matching what was typed in an account picker (only those the user may see)."""
    user = _user(request)
    text = (request.GET.get("account_search") or request.GET.get("q") or "").strip()
    accounts: list[Account] = []
    if text:
        found = Account.objects.visible_to(user).filter(search_accounts_q(text))
        exclude = _as_id(request.GET.get("exclude"))
        if exclude is not None:
            found = found.exclude(pk=exclude)
        accounts = list(found.order_by("name_key", "id")[:8])
    return render(request, "contacts/_account_suggestions.html", {"accounts": accounts, "text": text})


@login_required
@require_http_methods(["GET", "POST"])
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete a contact (hidden and restorable, as every delete)."""
    user = _user(request)
    contact = _get_contact(user, pk)
    _require(user, "records.delete")
    if request.method == "POST":
        try:
            deleted = services.contacts_delete(actor=user, via=Via.PAGE, contact_ids=[contact.pk])
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        if not deleted:
            raise Http404("No such contact.")
        messages.success(request, f"Deleted {contact}.")
        return redirect("contacts:contact_list")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "record": contact,
            "kind": "contact",
            "cancel": contact.get_absolute_url(),
            "action": reverse("contacts:contact_delete", args=[pk]),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete an account; its contacts stay."""
    user = _user(request)
    account = _get_account(user, pk)
    _require(user, "records.delete")
    if request.method == "POST":
        try:
            deleted = services.accounts_delete(actor=user, via=Via.PAGE, account_ids=[account.pk])
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        if not deleted:
            raise Http404("No such account.")
        messages.success(request, f"Deleted {account}. Its contacts were kept.")
        return redirect("contacts:account_list")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "record": account,
            "kind": "account",
            "cancel": account.get_absolute_url(),
            "action": reverse("contacts:account_delete", args=[pk]),
        },
    )


# --- Exports --------------------------------------------------------------------------------------------


def _export(request: HttpRequest, object_type: str, fmt: str) -> HttpResponseBase:
    user = _user(request)
    _require(user, "records.export")
    fmt = fmt.lower()
    if fmt not in exporting.FORMATS or (exporting.FORMATS[fmt] == "vcf" and object_type != ObjectType.CONTACT):
        raise Http404("No such export format.")
    fmt = exporting.FORMATS[fmt]
    try:
        filters = parse_filters(request.GET, object_type=object_type)
    except ValidationFailed as exc:
        return render(
            request,
            "core/error.html",
            {"status": 422, "title": "The filters are not valid", "message": str(exc)},
            status=422,
        )
    export = exporting.export_prepare(user=user, object_type=object_type, filters=filters)
    filename = exporting.export_filename(object_type, fmt)
    if fmt == "xlsx":
        return FileResponse(
            exporting.xlsx_tempfile(export),
            as_attachment=True,
            filename=filename,
            content_type=exporting.CONTENT_TYPES["xlsx"],
        )
    chunks = exporting.csv_chunks(export) if fmt == "csv" else exporting.vcard_chunks(export)
    response = StreamingHttpResponse(chunks, content_type=exporting.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def contact_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The contact list with its filters as CSV, XLSX or vCard: only the contacts the user may see."""
    return _export(request, ObjectType.CONTACT, fmt)


@login_required
def account_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The account list with its filters as CSV or XLSX: only the accounts the user may see."""
    return _export(request, ObjectType.ACCOUNT, fmt)


@login_required
def contact_vcard(request: HttpRequest, pk: int) -> HttpResponse:
    """One contact as a vCard, to add to an address book."""
    contact = _get_contact(_user(request), pk)
    contact = Contact.objects.select_related("account").prefetch_related("tags").get(pk=contact.pk)
    response = HttpResponse(exporting.vcard(contact), content_type=exporting.CONTENT_TYPES["vcf"])
    name = normalise.key(contact.full_name or contact.email or f"contact {contact.pk}").replace(" ", "-")
    safe = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "-_.@")) or f"contact-{contact.pk}"
    response["Content-Disposition"] = f'attachment; filename="{safe}.vcf"'
    return response


# --- Search -----------------------------------------------------------------------------------------------


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Global search: a drop-down under the header box (htmx), or a results page when submitted."""
    user = _user(request)
    q = (request.GET.get("q") or "").strip()[:200]
    partial = bool(request.htmx) and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    results = global_search(user, q, limit=6 if partial else 50)
    context = {"q": q, "contacts": results["contacts"], "accounts": results["accounts"], "too_short": 0 < len(q) < 2}
    response = render(request, "contacts/_search_dropdown.html" if partial else "contacts/search.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Saved views -------------------------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    """Save the current list (filters, sort and columns) under a name, optionally shared with everyone."""
    user = _user(request)
    object_type = request.POST.get("object_type", "")
    list_name = "contacts:account_list" if object_type == ObjectType.ACCOUNT else "contacts:contact_list"
    params = QueryDict(request.POST.get("query", ""))
    columns = [part for value in params.getlist("cols") for part in value.split(",") if part.strip()]
    query = _query(params)
    try:
        view = services.saved_view_save(
            user=user,
            object_type=object_type,
            name=request.POST.get("name", ""),
            query=query,
            columns=columns,
            shared=bool(request.POST.get("shared")),
        )
    except RapportError as exc:
        messages.error(
            request,
            "The view was not saved: " + "; ".join(e.message for e in exc.errors) if exc.errors else exc.message,
        )
        return redirect(reverse(list_name) + (f"?{query}" if query else ""))
    messages.success(request, f"Saved the view “{view.name}”" + (", shared with everyone." if view.shared else "."))
    return redirect(saved_view_url(view))


def saved_view_url(view: SavedView) -> str:
    """The list URL that opens a saved view."""
    list_name = "contacts:account_list" if view.object_type == ObjectType.ACCOUNT else "contacts:contact_list"
    params = QueryDict(view.query, mutable=True)
    if view.columns:
        params.setlist("cols", [",".join(view.columns)])
    params["view"] = str(view.pk)
    return f"{reverse(list_name)}?{params.urlencode()}"


@login_required
@require_http_methods(["GET", "POST"])
def saved_views(request: HttpRequest) -> HttpResponse:
    """The user's saved views and those others shared; delete one's own."""
    user = _user(request)
    if request.method == "POST":
        view_id = _as_id(request.POST.get("delete"))
        try:
            if view_id is None:
                raise NotFound("No such saved view.")
            services.saved_view_delete(user=user, view_id=view_id)
        except NotFound:
            messages.error(request, "That view doesn't exist or isn't yours to delete.")
        else:
            messages.success(request, "The view has been deleted.")
        return redirect("contacts:saved_views")
    own = list(SavedView.objects.filter(user=user).order_by("object_type", "name"))
    shared = list(
        SavedView.objects.filter(shared=True).exclude(user=user).select_related("user").order_by("object_type", "name")
    )
    for view in [*own, *shared]:
        view.url = saved_view_url(view)  # type: ignore[attr-defined]
    return render(request, "contacts/saved_views.html", {"own": own, "shared": shared})


__all__ = [
    "account_bulk",
    "account_create",
    "account_delete",
    "account_detail",
    "account_edit",
    "account_export",
    "account_list",
    "account_suggest",
    "account_validate",
    "contact_bulk",
    "contact_create",
    "contact_delete",
    "contact_detail",
    "contact_edit",
    "contact_export",
    "contact_list",
    "contact_validate",
    "contact_vcard",
    "saved_view_save",
    "saved_views",
    "search",
]
