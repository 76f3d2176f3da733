"""How the contact and account pages present what the queries read: list columns, filter chips, query
strings and cursors, and a record's history, timeline and provenance in words.

A view-layer module: no model manager is used here. The views in ``records`` pass in what the query
functions read (a record's data sources, its audit entries); the names for the ids in audit entries and
the imports they came from are read through ``rapport.contacts.queries`` and ``rapport.core.queries``,
in a fixed number of queries per page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from django.urls import reverse
from django.utils.text import capfirst

from rapport.contacts import normalise
from rapport.contacts.models import (
    Account,
    ConsentChange,
    ConsentChannel,
    ConsentStatus,
    Contact,
    CustomField,
    DataSource,
    LifecycleStage,
    ObjectType,
    Party,
    SavedView,
    Seniority,
    SizeBand,
)
from rapport.contacts.queries import (
    ListFilters,
    import_file_names,
    import_ids_openable,
    ordering_reversed,
    visible_account_names,
)
from rapport.core.db import encode_cursor
from rapport.core.models import AuditEntry, User, Via
from rapport.core.queries import partner_organisation_names, user_display_names

CURSOR_PARAMS = ("after", "before")
# Parameters that belong to the page, not to the list's filters (kept out of saved views and exports).
PAGE_PARAMS = (*CURSOR_PARAMS, "view", "cols")


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


def available_columns(object_type: str, custom_fields: Sequence[CustomField]) -> list[Column]:
    """Every column the list can show: the built-in ones, then one per custom field."""
    base = CONTACT_COLUMNS if object_type == ObjectType.CONTACT else ACCOUNT_COLUMNS
    return [*base, *(Column(f"cf.{f.key}", f.label) for f in custom_fields)]


def chosen_columns(params: QueryDict, available: Sequence[Column], object_type: str) -> list[Column]:
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


def query_string(params: QueryDict, drop: Sequence[str] = PAGE_PARAMS, **changes: Any) -> str:
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


def query_without(params: QueryDict, name: str, value: str | None = None) -> str:
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


def cursor_for(row: Any, order: Sequence[str]) -> str:
    """The keyset cursor that points at ``row`` in a list sorted by the columns ``order``."""
    values = []
    for name in order:
        value = getattr(row, name.lstrip("-"))
        values.append(value.isoformat() if hasattr(value, "isoformat") else value)
    return encode_cursor(values)


@dataclass
class Chip:
    """One active filter, shown as a removable chip."""

    label: str
    value: str
    remove: str


def filter_chips(
    params: QueryDict,
    filters: ListFilters,
    *,
    users: dict[str, str],
    custom_fields: Sequence[CustomField],
    account_name: str | None = None,
) -> list[Chip]:
    """The list's active filters as chips, each with the link that removes it; ``users`` names owners by
    id and ``account_name`` is the filtered account's name, if the user may see it."""
    from rapport.contacts.templatetags.records import country_name

    chips: list[Chip] = []
    if filters.q:
        chips.append(Chip("Search", filters.q, query_without(params, "q")))
    if filters.owner:
        who = {"me": "me", "none": "no owner"}.get(filters.owner) or users.get(filters.owner, f"user {filters.owner}")
        chips.append(Chip("Owner", who, query_without(params, "owner")))
    stages = dict(LifecycleStage.choices)
    for value in filters.stage:
        chips.append(Chip("Stage", str(stages[value]), query_without(params, "stage", value)))
    for value in filters.country:
        chips.append(Chip("Country", country_name(value), query_without(params, "country", value)))
    levels = dict(Seniority.choices)
    for value in filters.seniority:
        chips.append(Chip("Seniority", str(levels[value]), query_without(params, "seniority", value)))
    for value in filters.tag:
        chips.append(Chip("Tag", value, query_without(params, "tag", value)))
    if filters.account is not None:
        chips.append(Chip("Account", account_name or f"#{filters.account}", query_without(params, "account")))
    if filters.consent_email:
        chips.append(Chip("Email consent", filters.consent_email, query_without(params, "consent_email")))
    if filters.industry:
        chips.append(Chip("Industry", filters.industry, query_without(params, "industry")))
    sizes = dict(SizeBand.choices)
    for value in filters.size_band:
        chips.append(Chip("Size", str(sizes[value]), query_without(params, "size_band", value)))
    if filters.updated_since is not None:
        chips.append(
            Chip("Updated since", filters.updated_since.strftime("%Y-%m-%d"), query_without(params, "updated_since"))
        )
    labels = {f.key: f.label for f in custom_fields}
    for key_, value in filters.custom.items():
        chips.append(Chip(labels.get(key_, key_), value, query_without(params, f"cf.{key_}")))
    return chips


def column_header(params: QueryDict, column: Column, ordering: str) -> dict[str, Any]:
    """A column header: its label, and for sortable columns the link that sorts (or reverses) by it."""
    if not column.sort:
        return {"column": column, "link": "", "state": ""}
    state = "ascending" if ordering == column.sort else "descending" if ordering == f"-{column.sort}" else ""
    # Dates read best newest first; names and emails A to Z.
    first = f"-{column.sort}" if column.sort.endswith("_at") else column.sort
    target = ordering_reversed(ordering) if state else first
    return {
        "column": column,
        "link": query_string(params, drop=(*CURSOR_PARAMS, "view"), ordering=target),
        "state": state,
    }


# --- Saved views -------------------------------------------------------------------------------------------


def saved_view_url(view: SavedView) -> str:
    """The list URL that opens a saved view."""
    list_name = "contacts:account_list" if view.object_type == ObjectType.ACCOUNT else "contacts:contact_list"
    params = QueryDict(view.query, mutable=True)
    if view.columns:
        params.setlist("cols", [",".join(view.columns)])
    params["view"] = str(view.pk)
    return f"{reverse(list_name)}?{params.urlencode()}"


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


def field_label(model: type[Contact] | type[Account], name: str, custom_labels: dict[str, str]) -> str:
    """A field's name as people know it: its custom field label, the label above, or the model's verbose name."""
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
    names = import_file_names(ids)
    openable = import_ids_openable(user, ids)
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
        self.users = user_display_names(users)
        self.accounts = visible_account_names(user, accounts)
        self.partners = partner_organisation_names(partners)

    def show(self, name: str, value: object) -> str:
        """A value of the field ``name`` in words ("—" for none)."""
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


def history_items(
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
            changes.append(
                Change(field_label(model, name, custom_labels), names.show(name, old), names.show(name, new))
            )
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


def timeline_items(
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


def _source_name(source: DataSource, vias: dict[str, str]) -> str:
    """A data source's name, with the person who wrote through a page or the API named as people know
    them: sources saved before names were used read "Page: alice" for the user alice."""
    actor = source.actor
    door = vias.get(source.via, source.via)
    if actor is not None and source.name == f"{door}: {actor.username}":
        return f"{door}: {actor.display_name}"
    return str(source.name)


def provenance_groups(
    record: Contact | Account, custom_labels: dict[str, str], sources: dict[int, DataSource]
) -> list[ProvenanceGroup]:
    """Each attribute's source, grouped by source, newest first.

    ``provenance`` maps a field to a ``DataSource`` id (or, in rows written before those existed, a dict);
    ``sources`` holds the data sources it points at (see ``record_data_sources``).
    """
    parties = dict(Party.choices)
    vias = dict(Via.choices)
    model = type(record)
    stamps = {name: value for name, value in record.provenance.items() if isinstance(value, int | dict)}
    groups: dict[tuple[str, str, str, str], ProvenanceGroup] = {}
    for name, value in stamps.items():
        label = field_label(model, name, custom_labels) if name != "custom" else "Custom fields"
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


def custom_values(record: Contact | Account, custom_fields: Sequence[CustomField]) -> list[tuple[CustomField, Any]]:
    """Each custom field with the record's value for it (None when it has none)."""
    return [(f, record.custom.get(f.key)) for f in custom_fields]


def consent_by_channel(contact: Contact, consent_changes: Sequence[ConsentChange]) -> list[dict[str, Any]]:
    """Each consent channel with the contact's status and its changes, newest first.

    Each change gets ``how``: its source, unless that only repeats the door and the user ("Page: alice").
    """
    vias = dict(Via.choices)
    for change in consent_changes:
        change.how = "" if change.source.startswith(f"{vias.get(change.via, change.via)}:") else change.source  # type: ignore[attr-defined]
    return [
        {
            "channel": channel,
            "status": getattr(contact, f"consent_{channel.value}"),
            "changes": [c for c in consent_changes if c.channel == channel.value],
        }
        for channel in ConsentChannel
    ]
