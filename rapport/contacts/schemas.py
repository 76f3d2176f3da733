"""Schemas of the contacts and accounts REST API: strict input bodies, complete output records.

Input schemas forbid unknown fields and check JSON types; the values themselves (email syntax,
phone numbers, countries, custom fields, visibility of linked records) are checked by the services,
so the API, the pages and imports accept exactly the same data.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt

from rapport.contacts.models import ConsentStatus, LifecycleStage, Seniority, SizeBand

# Ids beyond a signed 64-bit integer can't exist in any database; refusing them keeps them out of queries.
MAX_ID = 2**63 - 1
RecordId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class StrictIn(Schema):
    """Base of request bodies: an unknown field is an error, not something silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ConsentIn(StrictIn):
    """Consent per channel; channels left out keep their current status."""

    email: ConsentStatus | None = None
    phone: ConsentStatus | None = None
    sms: ConsentStatus | None = None
    post: ConsentStatus | None = None


class ContactIn(StrictIn):
    """A contact's fields as sent to the API. On PATCH only the fields given change."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = Field(None, description="Checked and stored in lower case; unique among live contacts.")
    phone: str | None = Field(
        None, description="Any common format; numbers without +country code are read in the contact's country."
    )
    job_title: str | None = Field(None, description="Seniority is derived from it unless set.")
    seniority: Seniority | None = Field(
        None, description="Set by hand (overrides the level derived from job_title); null goes back to derived."
    )
    department: str | None = None
    account_id: RecordId | None = Field(None, description="An account the caller can see; null unlinks.")
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = Field(None, description="ISO 3166 code (DE, DEU) or English name (Germany).")
    lifecycle_stage: LifecycleStage | None = None
    owner_id: RecordId | None = Field(None, description="An active internal user's id; null for no owner.")
    source: str | None = None
    tags: list[str] | None = Field(None, description="Tag names; on PATCH the list replaces the contact's tags.")
    consent: ConsentIn | None = None
    external_id: str | None = Field(None, description="Your system's id; unique among live contacts.")
    custom: dict[str, Any] | None = Field(
        None, description="Custom field values by key; keys given replace their values, others are kept."
    )


class AccountIn(StrictIn):
    """An account's fields as sent to the API. On PATCH only the fields given change."""

    name: str | None = Field(None, description="Required when creating.")
    domain: str | None = Field(None, description="A domain or web address; stored as the bare domain.")
    industry: str | None = None
    size_band: SizeBand | None = None
    annual_revenue: Decimal | None = Field(None, description="A number or a decimal string; stored with 2 decimals.")
    currency: str | None = Field(None, description="ISO 4217 code such as EUR.")
    country: str | None = Field(None, description="ISO 3166 code (DE, DEU) or English name (Germany).")
    region: str | None = None
    city: str | None = None
    owner_id: RecordId | None = None
    partner_organisation_id: RecordId | None = Field(
        None, description="Share the account (and its contacts) with a partner organisation."
    )
    parent_id: RecordId | None = Field(None, description="A parent account the caller can see.")
    lifecycle_stage: LifecycleStage | None = None
    external_id: str | None = Field(None, description="Your system's id; unique among live accounts.")
    custom: dict[str, Any] | None = None


class ConsentOut(Schema):
    """Consent per channel."""

    email: str
    phone: str
    sms: str
    post: str


class ContactOut(Schema):
    """A contact as the API returns it. Empty text fields are empty strings; absent choices and links are null."""

    id: int
    first_name: str
    last_name: str
    email: str
    phone: str = Field(description="E.164, e.g. +4930123456.")
    job_title: str
    seniority: Seniority | None
    seniority_source: Literal["derived", "manual"] | None = Field(
        description="manual when set by hand, derived when read from the job title, null when unknown."
    )
    department: str
    account_id: int | None
    street: str
    postal_code: str
    city: str
    region: str
    country: str
    lifecycle_stage: LifecycleStage
    owner_id: int | None
    territory_id: int | None
    source: str
    tags: list[str]
    consent: ConsentOut
    external_id: str
    custom: dict[str, Any]
    version: int = Field(description="Grows with every change; send it back as If-Match to avoid lost updates.")
    created_at: dt.datetime
    updated_at: dt.datetime


class ProvenanceStamp(Schema):
    """Where one attribute's value came from."""

    party: str = Field(description="first, second or third.")
    source: str = Field(description="Who: a user ('API: ann'), a partner or a data provider.")
    via: str = Field(description="The door: page, api, import, cli or system.")
    at: str = Field(description="When, ISO 8601.")


class ContactDetailOut(ContactOut):
    """A contact with the provenance of each attribute."""

    provenance: dict[str, ProvenanceStamp]


class AccountOut(Schema):
    """An account as the API returns it."""

    id: int
    name: str
    domain: str
    industry: str
    size_band: SizeBand | None
    annual_revenue: str | None = Field(description="A decimal string such as '1250000.00', or null.")
    currency: str
    country: str
    region: str
    city: str
    owner_id: int | None
    territory_id: int | None
    partner_organisation_id: int | None
    parent_id: int | None
    lifecycle_stage: LifecycleStage
    external_id: str
    custom: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountDetailOut(AccountOut):
    """An account with the provenance of each attribute."""

    provenance: dict[str, ProvenanceStamp]


class ContactPage(Schema):
    """One page of contacts."""

    results: list[ContactOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")
    count: int | None = Field(None, description="Only with ?count=true: matching contacts, at most 100,000.")
    count_capped: bool | None = Field(None, description="Only with ?count=true: true when there are more than count.")


class AccountPage(Schema):
    """One page of accounts."""

    results: list[AccountOut]
    next_cursor: str | None
    count: int | None = Field(None, description="Only with ?count=true: matching accounts, at most 100,000.")
    count_capped: bool | None = Field(None, description="Only with ?count=true: true when there are more than count.")


class ContactListParams(Schema):
    """Filters, ordering and paging of the contact list."""

    q: str | None = Field(None, description="Search: name, email, company or domain prefixes, or a phone number.")
    owner: str | None = Field(None, description="A user id, me, or none (unowned).")
    stage: list[str] | None = Field(None, description="Lifecycle stages (repeat or comma-separate).")
    country: list[str] | None = Field(None, description="Country codes (repeat or comma-separate).")
    seniority: list[str] | None = Field(None, description="Seniority levels (repeat or comma-separate).")
    tag: list[str] | None = Field(None, description="Tag names; a contact must carry all of them.")
    account: str | None = Field(None, description="An account id.")
    consent_email: str | None = Field(None, description="granted, denied or unknown.")
    updated_since: str | None = Field(None, description="A date or ISO 8601 time, e.g. 2026-01-31T09:00:00Z.")
    ordering: str | None = Field(
        None, description="name (default), -name, email, -email, created_at, -created_at, updated_at, -updated_at."
    )
    cursor: str | None = Field(None, description="The next_cursor of the previous page.")
    limit: int = Field(50, ge=1, le=500, description="Rows per page, 1 to 500.")
    count: bool = Field(False, description="Also count the matching contacts (slower on big lists).")


class AccountListParams(Schema):
    """Filters, ordering and paging of the account list."""

    q: str | None = Field(None, description="Search: name words or domain prefix.")
    owner: str | None = Field(None, description="A user id, me, or none (unowned).")
    stage: list[str] | None = Field(None, description="Lifecycle stages (repeat or comma-separate).")
    country: list[str] | None = Field(None, description="Country codes (repeat or comma-separate).")
    industry: str | None = Field(None, description="Industry, exact (case-insensitive).")
    size_band: list[str] | None = Field(None, description="Size bands such as 51-200 (repeat or comma-separate).")
    updated_since: str | None = Field(None, description="A date or ISO 8601 time, e.g. 2026-01-31T09:00:00Z.")
    ordering: str | None = Field(
        None, description="name (default), -name, created_at, -created_at, updated_at, -updated_at."
    )
    cursor: str | None = Field(None, description="The next_cursor of the previous page.")
    limit: int = Field(50, ge=1, le=500, description="Rows per page, 1 to 500.")
    count: bool = Field(False, description="Also count the matching accounts (slower on big lists).")


class BulkContactsIn(StrictIn):
    """Many contacts to create or update in one call."""

    records: list[Any] = Field(
        description="Up to 1,000 contacts, each shaped like the body of POST /contacts and carrying its match key.",
        json_schema_extra={"items": {"type": "object", "description": "A contact, as ContactIn."}},
    )
    match_on: Literal["email", "external_id"] = Field("email", description="Which field finds existing contacts.")
    mode: Literal["upsert", "create", "update"] = Field(
        "upsert", description="upsert: create or update; create: leave existing ones; update: create nothing."
    )


class BulkAccountsIn(StrictIn):
    """Many accounts to create or update in one call."""

    records: list[Any] = Field(
        description="Up to 1,000 accounts, each shaped like the body of POST /accounts and carrying its match key.",
        json_schema_extra={"items": {"type": "object", "description": "An account, as AccountIn."}},
    )
    match_on: Literal["domain", "external_id", "name"] = Field(
        "domain", description="Which field finds existing accounts."
    )
    mode: Literal["upsert", "create", "update"] = Field(
        "upsert", description="upsert: create or update; create: leave existing ones; update: create nothing."
    )


class FieldErrorOut(Schema):
    """What is wrong with one field; in bulk results, of one record."""

    field: str
    message: str


class BulkRowOut(Schema):
    """What happened to one record of a bulk call."""

    index: int = Field(description="The record's position in records, from 0.")
    status: Literal["created", "updated", "skipped", "rejected"]
    id: int | None
    errors: list[FieldErrorOut]


class BulkOut(Schema):
    """Counts and per-record outcomes of a bulk call."""

    created: int
    updated: int
    skipped: int
    rejected: int
    results: list[BulkRowOut]


class ErrorOut(Schema):
    """The body of every error response."""

    code: str = Field(description="Stable: invalid, conflict, not_found, forbidden, unauthenticated, ...")
    message: str
    errors: list[FieldErrorOut]
    existing_id: int | None = Field(None, description="On 409: the record the request clashed with.")
