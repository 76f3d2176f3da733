"""REST endpoints for contacts and accounts: create, read, update, delete, list, search and bulk upsert.

Handlers stay thin: they parse the request, call ``rapport.contacts.services`` (writes) or
``rapport.contacts.queries`` (reads), and shape the output. Access control lives in those layers
(``visible_to``), so a record the caller may not see answers 404 exactly like one that doesn't exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.dateparse import parse_datetime
from ninja import Header, Query, Router, Status
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from rapport.contacts import queries, services
from rapport.contacts.models import Account, Contact, DataSource, ImportJob, ObjectType, Party
from rapport.contacts.schemas import (
    MAX_ID,
    AccountDetailOut,
    AccountIn,
    AccountListParams,
    AccountPage,
    BulkAccountsIn,
    BulkContactsIn,
    BulkOut,
    ContactDetailOut,
    ContactIn,
    ContactListParams,
    ContactPage,
    ErrorOut,
)
from rapport.core.db import decode_cursor
from rapport.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from rapport.core.models import User, Via

router = Router(tags=["contacts"])

ERRORS: dict[int, type[ErrorOut]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
READ_ERRORS = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}

IF_MATCH_HELP = (
    "Optional optimistic locking: the version you last read (the record's `version`, also sent as its ETag). "
    "If someone changed the record since, the update is refused with 409 and nothing changes."
)
DATA_SOURCE_HELP = (
    "Optional provenance of the values written, as `party:name`: `first:Web form`, `second:Acme Partner` "
    "(a partner) or `third:ZoomInfo` (a data provider). Without it, values are first-party from "
    "`API: <your username>`."
)
WRITE_NOTE = (
    "\n\nNeeds a token with the write scope. Send `X-Data-Source: party:name` to record where the data came "
    "from (see the header's description)."
)

CONTACT_LIST_PARAMS = frozenset(ContactListParams.model_fields)
ACCOUNT_LIST_PARAMS = frozenset(AccountListParams.model_fields)


# --- Helpers ----------------------------------------------------------------------------------------


def _user(request: HttpRequest) -> User:
    from rapport.api import current_user

    return current_user(request)


def _require_write(request: HttpRequest) -> User:
    from rapport.api import require_write

    require_write(request)
    return _user(request)


def _record_id(value: int, what: str) -> int:
    """Ids no database can hold are simply not found (and must not reach a query)."""
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} with id {value}.")
    return value


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _given(payload: BaseModel) -> dict[str, Any]:
    """The fields the client actually sent (a PATCH changes only these), with choices as plain strings.

    Only the top level and ``consent`` hold choices; ``custom`` is passed on untouched, however deep.
    """
    data = payload.model_dump(exclude_unset=True)
    given = {name: _plain(value) for name, value in data.items()}
    if isinstance(given.get("consent"), dict):
        given["consent"] = {channel: _plain(status) for channel, status in given["consent"].items()}
    return given


_PARTY_SOURCE = re.compile(r"^\s*(first|second|third)\s*:\s*(\S.{0,99}?)\s*$", re.IGNORECASE)


def _provenance(header: str | None) -> services.Provenance | None:
    """Read ``X-Data-Source: party:name``; None means first-party from the calling user."""
    if header is None:
        return None
    match = _PARTY_SOURCE.match(header)
    if match is None or not match.group(2).isprintable():
        raise invalid(
            "X-Data-Source",
            "must be party:name, e.g. second:Acme Partner or third:ZoomInfo (party is first, second or third; "
            "the name at most 100 characters).",
        )
    return services.Provenance(Party(match.group(1).lower()), match.group(2))


_VERSION = re.compile(r'^\s*(?:W/)?(?:"([0-9]{1,9})"|([0-9]{1,9}))\s*$')


def _expected_version(header: str | None) -> int | None:
    """Read ``If-Match: "3"`` (or ``3``, or ``*`` for any version)."""
    if header is None or header.strip() == "*":
        return None
    match = _VERSION.match(header)
    if match is None:
        raise invalid("If-Match", 'must be the version you last read, e.g. If-Match: "3".')
    return int(match.group(1) or match.group(2))


def _etag(response: HttpResponse, record: Contact | Account) -> None:
    response["ETag"] = f'"{record.version}"'


@contextmanager
def _existing_id_if_visible(model: type[Model], user: User) -> Iterator[None]:
    """On a duplicate, name the existing record only if the caller may see it: others stay unknown."""
    try:
        yield
    except Conflict as exc:
        if exc.existing_id is not None and not model.objects.visible_to(user).filter(pk=exc.existing_id).exists():  # type: ignore[attr-defined]
            raise Conflict(exc.message, exc.errors) from None
        raise


def _check_list_params(request: HttpRequest, allowed: frozenset[str]) -> None:
    """Refuse parameters the list doesn't know, so a typo can't silently return everything."""
    errors: list[FieldError] = []
    for name, values in request.GET.lists():
        if name not in allowed and not name.startswith(queries.CUSTOM_PREFIX):
            errors.append(
                FieldError(name, f"is not a parameter of this list; use {', '.join(sorted(allowed))} or cf.<key>.")
            )
        elif any("\x00" in value for value in values):
            errors.append(FieldError(name, "contains a NUL character."))
    if errors:
        raise ValidationFailed("The list parameters are not valid.", errors)


def _check_cursor(cursor: str | None, order: tuple[str, ...]) -> None:
    """A cursor must decode to values of the ordering's types, or the page query itself would fail."""
    if not cursor:
        return
    values = decode_cursor(cursor, len(order))
    for name, value in zip((f.lstrip("-") for f in order), values, strict=True):
        if name == "id":
            ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
        elif name.endswith("_at"):
            try:
                ok = isinstance(value, str) and parse_datetime(value) is not None
            except ValueError:
                ok = False
        else:
            ok = isinstance(value, str) and "\x00" not in value
        if not ok:
            raise invalid("cursor", "is not a cursor this API gave out; start again without one.")


def _page(
    request: HttpRequest,
    params: ContactListParams | AccountListParams,
    *,
    object_type: str,
    allowed: frozenset[str],
    orderings: Mapping[str, tuple[str, ...]],
    page: Callable[..., tuple[list[Any], str | None]],
    counter: Callable[[User, queries.ListFilters], tuple[int, bool]],
    shape: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    _check_list_params(request, allowed)
    user = _user(request)
    filters = queries.parse_filters(request.GET, object_type=object_type)
    _check_cursor(params.cursor, orderings[filters.ordering])
    rows, next_cursor = page(user, filters, cursor=params.cursor, limit=params.limit)
    body: dict[str, Any] = {"results": [shape(row) for row in rows], "next_cursor": next_cursor}
    if params.count:
        body["count"], body["count_capped"] = counter(user, filters)
    return body


# --- Output -----------------------------------------------------------------------------------------


def provenance_out(record: Contact | Account) -> dict[str, dict[str, str]]:
    """Each attribute's source as ``{party, source, via, at}``, read from the data sources it points at."""
    ids = {value for value in record.provenance.values() if isinstance(value, int)}
    sources = {source.pk: source for source in DataSource.objects.filter(pk__in=ids)} if ids else {}
    out: dict[str, dict[str, str]] = {}
    for name, value in record.provenance.items():
        if isinstance(value, dict):  # a stamp written before data sources had their own table
            out[name] = {key: str(value.get(key, "")) for key in ("party", "source", "via", "at")}
        elif value in sources:
            source = sources[value]
            out[name] = {"party": source.party, "source": source.name, "via": source.via, "at": source.at.isoformat()}
    return out


def contact_out(contact: Contact, *, detail: bool = False) -> dict[str, Any]:
    """A contact as the API shows it (tags from the prefetch cache when loaded)."""
    data = {
        "id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "job_title": contact.job_title,
        "seniority": contact.seniority or None,
        "seniority_source": ("manual" if contact.seniority_manual else "derived") if contact.seniority else None,
        "department": contact.department,
        "account_id": contact.account_id,
        "street": contact.street,
        "postal_code": contact.postal_code,
        "city": contact.city,
        "region": contact.region,
        "country": contact.country,
        "lifecycle_stage": contact.lifecycle_stage,
        "owner_id": contact.owner_id,
        "territory_id": contact.territory_id,
        "source": contact.source,
        "tags": sorted((tag.name for tag in contact.tags.all()), key=str.lower),
        "consent": contact.consent(),
        "external_id": contact.external_id,
        "custom": contact.custom,
        "version": contact.version,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }
    if detail:
        data["provenance"] = provenance_out(contact)
    return data


def account_out(account: Account, *, detail: bool = False) -> dict[str, Any]:
    """An account as the API shows it."""
    data = {
        "id": account.pk,
        "name": account.name,
        "domain": account.domain,
        "industry": account.industry,
        "size_band": account.size_band or None,
        "annual_revenue": None if account.annual_revenue is None else f"{account.annual_revenue:.2f}",
        "currency": account.currency,
        "country": account.country,
        "region": account.region,
        "city": account.city,
        "owner_id": account.owner_id,
        "territory_id": account.territory_id,
        "partner_organisation_id": account.partner_organisation_id,
        "parent_id": account.parent_id,
        "lifecycle_stage": account.lifecycle_stage,
        "external_id": account.external_id,
        "custom": account.custom,
        "version": account.version,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }
    if detail:
        data["provenance"] = provenance_out(account)
    return data


# --- Bulk -------------------------------------------------------------------------------------------


def _bulk(
    request: HttpRequest,
    payload: BulkContactsIn | BulkAccountsIn,
    data_source: str | None,
    *,
    schema: type[BaseModel],
    key_field: str,
    match_on: str,
    upsert: Callable[..., list[services.RowOutcome]],
) -> dict[str, Any]:
    """Check each record like a single create, then hand the good ones to the batch service in one go."""
    user = _require_write(request)
    provenance = _provenance(data_source)
    limit = settings.API_BULK_MAX_RECORDS
    if len(payload.records) > limit:
        raise ValidationFailed(
            f"A bulk call takes at most {limit:,} records; this one has {len(payload.records):,}. "
            "Send them in several calls.",
            [FieldError("records", f"has {len(payload.records):,} records; the most is {limit:,}.")],
        )
    from rapport.api import pydantic_errors

    outcomes: dict[int, services.RowOutcome] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    for index, record in enumerate(payload.records):
        try:
            values = _given(schema.model_validate(record))
        except PydanticValidationError as exc:
            errors = [FieldError(e["field"], e["message"]) for e in pydantic_errors(exc.errors(), whole="record")]
            outcomes[index] = services.RowOutcome(index, services.RowStatus.REJECTED, errors=errors)
            continue
        if not values.get(key_field):
            # Without its match key a record can't be found again, so a retried call would duplicate it.
            message = f"is needed to match records (match_on is {payload.match_on})."
            outcomes[index] = services.RowOutcome(
                index, services.RowStatus.REJECTED, errors=[FieldError(key_field, message)]
            )
            continue
        rows.append((index, values))
    if rows:
        for outcome in upsert(
            actor=user,
            via=Via.API,
            rows=rows,
            mode=payload.mode,
            match_on=match_on,
            provenance=provenance,
            from_text=False,
        ):
            outcomes[outcome.index] = outcome
    results = []
    counts = {"created": 0, "updated": 0, "skipped": 0, "rejected": 0}
    for index in sorted(outcomes):
        outcome = outcomes[index]
        # "merged" means a second record of this call matched the same one: to the caller, an update.
        status = services.RowStatus.UPDATED if outcome.status == services.RowStatus.MERGED else outcome.status
        counts[status] += 1
        results.append(
            {"index": index, "status": status, "id": outcome.id, "errors": [e.as_dict() for e in outcome.errors]}
        )
    return {**counts, "results": results}


BULK_DESCRIPTION = (
    "Create or update up to 1,000 {things} in one call (mode `upsert`, `create` or `update`), matched on "
    "{keys}. Every record must carry its match key, so retrying a call whose answer was lost creates "
    "nothing new. Each record is checked like `POST /{path}`; good records are stored and bad ones are "
    "reported in `results` with their `index` and the fields at fault. A record matching one you can't see "
    "is rejected, never changed. More than 1,000 records: 422." + WRITE_NOTE
)


# --- Contacts ---------------------------------------------------------------------------------------


@router.get(
    "/contacts",
    response={200: ContactPage, **READ_ERRORS},
    exclude_unset=True,
    summary="List and search contacts",
    operation_id="contacts_list",
    tags=["contacts"],
    description=(
        "The contacts you can see, filtered, searched and ordered, a page at a time. Follow `next_cursor` "
        "(pass it as `cursor`) until it is null. Filter on custom fields with `cf.<key>=value`. "
        "Unknown parameters are refused (422) so a typo can't return everything."
    ),
)
def contacts_list(request: HttpRequest, params: Query[ContactListParams]) -> dict[str, Any]:
    return _page(
        request,
        params,
        object_type=ObjectType.CONTACT,
        allowed=CONTACT_LIST_PARAMS,
        orderings=queries.CONTACT_ORDERINGS,
        page=queries.contact_page,
        counter=queries.contacts_count,
        shape=contact_out,
    )


@router.post(
    "/contacts",
    response={201: ContactDetailOut, **ERRORS},
    summary="Create a contact",
    operation_id="contacts_create",
    tags=["contacts"],
    description=(
        "Create a contact. Unknown fields and wrongly typed values are refused (422, naming the field). "
        "A duplicate email or external id answers 409 with `existing_id` (when you can see that contact). "
        "Partners must file the contact under one of their organisation's accounts (`account_id`)." + WRITE_NOTE
    ),
)
def contacts_create(
    request: HttpRequest,
    response: HttpResponse,
    payload: ContactIn,
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> Status:
    user = _require_write(request)
    with _existing_id_if_visible(Contact, user):
        contact = services.contact_create(
            actor=user, via=Via.API, data=_given(payload), provenance=_provenance(data_source)
        )
    _etag(response, contact)
    return Status(201, contact_out(contact, detail=True))


@router.post(
    "/contacts/bulk",
    response={200: BulkOut, **ERRORS},
    summary="Create or update many contacts",
    operation_id="contacts_bulk",
    tags=["contacts"],
    description=BULK_DESCRIPTION.format(things="contacts", keys="`email` or `external_id`", path="contacts"),
)
def contacts_bulk(
    request: HttpRequest,
    payload: BulkContactsIn,
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> dict[str, Any]:
    return _bulk(
        request,
        payload,
        data_source,
        schema=ContactIn,
        key_field=payload.match_on,
        match_on=payload.match_on,
        upsert=services.contacts_upsert_batch,
    )


@router.get(
    "/contacts/{contact_id}",
    response={200: ContactDetailOut, **READ_ERRORS},
    summary="Read a contact",
    operation_id="contacts_read",
    tags=["contacts"],
    description="One contact, with the provenance of each attribute. 404 if it doesn't exist or you can't see it.",
)
def contacts_read(request: HttpRequest, response: HttpResponse, contact_id: int) -> dict[str, Any]:
    contact = services.contact_get(actor=_user(request), contact_id=_record_id(contact_id, "contact"))
    _etag(response, contact)
    return contact_out(contact, detail=True)


@router.patch(
    "/contacts/{contact_id}",
    response={200: ContactDetailOut, **ERRORS},
    summary="Change a contact",
    operation_id="contacts_update",
    tags=["contacts"],
    description=(
        'Change the fields given, and only those; `null` or `""` empties a field. For optimistic locking '
        "send `If-Match` with the `version` you last read: if the contact changed since, the answer is 409 "
        "and nothing changes. The answer carries the new `version` (and ETag)." + WRITE_NOTE
    ),
)
def contacts_update(
    request: HttpRequest,
    response: HttpResponse,
    contact_id: int,
    payload: ContactIn,
    if_match: str | None = Header(None, alias="If-Match", description=IF_MATCH_HELP),
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> dict[str, Any]:
    user = _require_write(request)
    with _existing_id_if_visible(Contact, user):
        contact = services.contact_update(
            actor=user,
            via=Via.API,
            contact_id=_record_id(contact_id, "contact"),
            data=_given(payload),
            expected_version=_expected_version(if_match),
            provenance=_provenance(data_source),
        )
    _etag(response, contact)
    return contact_out(contact, detail=True)


@router.delete(
    "/contacts/{contact_id}",
    response={204: None, **ERRORS},
    summary="Delete a contact",
    operation_id="contacts_delete",
    tags=["contacts"],
    description=(
        "Delete a contact: it disappears from lists and search but is kept and can be restored. Needs a role "
        "that may delete records (admin, marketing, sales manager) and a write-scope token."
    ),
)
def contacts_delete(request: HttpRequest, contact_id: int) -> Status:
    user = _require_write(request)
    # Look it up first, so a contact the caller can't see is a 404 whatever their role.
    contact = services.contact_get(actor=user, contact_id=_record_id(contact_id, "contact"))
    services.contacts_delete(actor=user, via=Via.API, contact_ids=[contact.pk])
    return Status(204, None)


# --- Accounts ---------------------------------------------------------------------------------------


@router.get(
    "/accounts",
    response={200: AccountPage, **READ_ERRORS},
    exclude_unset=True,
    summary="List and search accounts",
    operation_id="accounts_list",
    tags=["accounts"],
    description=(
        "The accounts you can see, filtered, searched and ordered, a page at a time. Follow `next_cursor` "
        "(pass it as `cursor`) until it is null. Filter on custom fields with `cf.<key>=value`. "
        "Unknown parameters are refused (422)."
    ),
)
def accounts_list(request: HttpRequest, params: Query[AccountListParams]) -> dict[str, Any]:
    return _page(
        request,
        params,
        object_type=ObjectType.ACCOUNT,
        allowed=ACCOUNT_LIST_PARAMS,
        orderings=queries.ACCOUNT_ORDERINGS,
        page=queries.account_page,
        counter=lambda user, filters: queries.count_capped(queries.accounts_filtered(user, filters)),
        shape=account_out,
    )


@router.post(
    "/accounts",
    response={201: AccountDetailOut, **ERRORS},
    summary="Create an account",
    operation_id="accounts_create",
    tags=["accounts"],
    description=(
        "Create an account. Unknown fields and wrongly typed values are refused (422, naming the field); "
        "a duplicate external id answers 409 with `existing_id`. A partner's accounts are shared with "
        "their organisation." + WRITE_NOTE
    ),
)
def accounts_create(
    request: HttpRequest,
    response: HttpResponse,
    payload: AccountIn,
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> Status:
    user = _require_write(request)
    with _existing_id_if_visible(Account, user):
        account = services.account_create(
            actor=user, via=Via.API, data=_given(payload), provenance=_provenance(data_source)
        )
    _etag(response, account)
    return Status(201, account_out(account, detail=True))


@router.post(
    "/accounts/bulk",
    response={200: BulkOut, **ERRORS},
    summary="Create or update many accounts",
    operation_id="accounts_bulk",
    tags=["accounts"],
    description=BULK_DESCRIPTION.format(things="accounts", keys="`domain`, `external_id` or `name`", path="accounts"),
)
def accounts_bulk(
    request: HttpRequest,
    payload: BulkAccountsIn,
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> dict[str, Any]:
    match_on = ImportJob.MatchOn.NAME_COMPANY if payload.match_on == "name" else payload.match_on
    return _bulk(
        request,
        payload,
        data_source,
        schema=AccountIn,
        key_field=payload.match_on,
        match_on=match_on,
        upsert=services.accounts_upsert_batch,
    )


@router.get(
    "/accounts/{account_id}",
    response={200: AccountDetailOut, **READ_ERRORS},
    summary="Read an account",
    operation_id="accounts_read",
    tags=["accounts"],
    description="One account, with the provenance of each attribute. 404 if it doesn't exist or you can't see it.",
)
def accounts_read(request: HttpRequest, response: HttpResponse, account_id: int) -> dict[str, Any]:
    account = services.account_get(actor=_user(request), account_id=_record_id(account_id, "account"))
    _etag(response, account)
    return account_out(account, detail=True)


@router.patch(
    "/accounts/{account_id}",
    response={200: AccountDetailOut, **ERRORS},
    summary="Change an account",
    operation_id="accounts_update",
    tags=["accounts"],
    description=(
        'Change the fields given, and only those; `null` or `""` empties a field. For optimistic locking '
        "send `If-Match` with the `version` you last read: if the account changed since, the answer is 409 "
        "and nothing changes. The answer carries the new `version` (and ETag)." + WRITE_NOTE
    ),
)
def accounts_update(
    request: HttpRequest,
    response: HttpResponse,
    account_id: int,
    payload: AccountIn,
    if_match: str | None = Header(None, alias="If-Match", description=IF_MATCH_HELP),
    data_source: str | None = Header(None, alias="X-Data-Source", description=DATA_SOURCE_HELP),
) -> dict[str, Any]:
    user = _require_write(request)
    with _existing_id_if_visible(Account, user):
        account = services.account_update(
            actor=user,
            via=Via.API,
            account_id=_record_id(account_id, "account"),
            data=_given(payload),
            expected_version=_expected_version(if_match),
            provenance=_provenance(data_source),
        )
    _etag(response, account)
    return account_out(account, detail=True)


@router.delete(
    "/accounts/{account_id}",
    response={204: None, **ERRORS},
    summary="Delete an account",
    operation_id="accounts_delete",
    tags=["accounts"],
    description=(
        "Delete an account: it is kept and can be restored; its contacts stay. Needs a role that may delete "
        "records (admin, marketing, sales manager) and a write-scope token."
    ),
)
def accounts_delete(request: HttpRequest, account_id: int) -> Status:
    user = _require_write(request)
    account = services.account_get(actor=user, account_id=_record_id(account_id, "account"))
    services.accounts_delete(actor=user, via=Via.API, account_ids=[account.pk])
    return Status(204, None)
