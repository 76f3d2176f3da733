"""Writes on contacts and accounts: the single door for pages, the API, imports and the command line.

Every write validates its input (``validation``), fills derived fields, and records what changed in the
audit log, the lifecycle-stage history and the consent history, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from rapport.contacts.models import (
    Account,
    ConsentChange,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactTag,
    CustomField,
    DataSource,
    ImportJob,
    LifecycleChange,
    LifecycleStage,
    ObjectType,
    Party,
    SavedView,
    Tag,
)
from rapport.contacts.validation import (
    Lookups,
    NeedsDatabase,
    clean_account,
    clean_contact,
    derive_account,
    derive_contact,
)
from rapport.core.access import require
from rapport.core.db import bulk_insert, insert_objects, new_instance, update_objects
from rapport.core.errors import Conflict, FieldError, NotFound, ValidationFailed, invalid
from rapport.core.models import AuditEntry, Role, User, Via
from rapport.core.services import audit_entry, jsonable

CONTACT_AUDITED = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "seniority",
    "seniority_manual",
    "department",
    "account_id",
    "street",
    "postal_code",
    "city",
    "region",
    "country",
    "lifecycle_stage",
    "owner_id",
    "source",
    "external_id",
    "custom",
    "consent_email",
    "consent_phone",
    "consent_sms",
    "consent_post",
    "deleted_at",
)
ACCOUNT_AUDITED = (
    "name",
    "domain",
    "industry",
    "size_band",
    "annual_revenue",
    "currency",
    "country",
    "region",
    "city",
    "owner_id",
    "partner_organisation_id",
    "parent_id",
    "lifecycle_stage",
    "external_id",
    "custom",
    "deleted_at",
)
_UNKNOWN = ConsentStatus.UNKNOWN.value
_CONSENT_FIELDS = tuple((c.value, f"consent_{c.value}") for c in ConsentChannel)
# Fields stored on the record as given (the rest are derived or handled separately).
CONTACT_DIRECT = tuple(f for f in CONTACT_AUDITED if not f.startswith("consent_") and f != "deleted_at")
ACCOUNT_DIRECT = tuple(f for f in ACCOUNT_AUDITED if f != "deleted_at")
# Columns a batch upsert writes back for records it changed.
CONTACT_UPDATED_COLUMNS = (
    *CONTACT_DIRECT,
    *(f"consent_{c.value}" for c in ConsentChannel),
    "first_name_key",
    "last_name_key",
    "territory_id",
    "provenance",
    "version",
    "updated_at",
)
_CONTACT_DERIVED = ("first_name_key", "last_name_key", "territory_id")
ACCOUNT_UPDATED_COLUMNS = (*ACCOUNT_DIRECT, "name_key", "territory_id", "provenance", "version", "updated_at")


@dataclass(frozen=True)
class Provenance:
    """Who supplied the data being written: first-party (our forms, CRM users), a partner, or a provider."""

    party: str = Party.FIRST
    source: str = ""

    def record(self, *, via: str, at: dt.datetime, actor: User | None, import_job: ImportJob | None = None) -> int:
        """Save this source as a ``DataSource`` row and return its id, which records' provenance points at."""
        return DataSource.objects.create(
            party=self.party, name=self.source[:200], via=via, at=at, actor=actor, import_job=import_job
        ).pk


FIRST_PARTY = Provenance()


def _scoped(queryset: QuerySet[Any], actor: User | None) -> QuerySet[Any]:
    """Restrict to what the actor may see; the system (no actor) sees everything."""
    return queryset if actor is None else queryset.visible_to(actor)  # type: ignore[attr-defined]


def _require(actor: User | None, capability: str) -> None:
    if actor is not None:
        require(actor, capability)


def _snapshot(obj: Contact | Account, fields: Sequence[str]) -> dict[str, object]:
    state = obj.__dict__  # all audited names are concrete attnames, so no descriptor is needed
    return {f: state[f] for f in fields}


def _diff(before: Mapping[str, object], after: Mapping[str, object]) -> dict[str, list[object]]:
    return {f: [before[f], after[f]] for f in before if before[f] != after[f]}


def _default_provenance(actor: User | None, via: str, provenance: Provenance | None) -> Provenance:
    if provenance is not None:
        return provenance
    who = actor.display_name if actor is not None else "system"
    return Provenance(Party.FIRST, f"{Via(via).label}: {who}")


def tags_ensure(names: Iterable[str]) -> dict[str, Tag]:
    """Return tags by lower-case name, creating the missing ones (safe against concurrent creation)."""
    wanted = {name.lower(): name for name in names}
    if not wanted:
        return {}
    found = {t.key: t for t in Tag.objects.filter(key__in=list(wanted))}
    missing = [Tag(name=wanted[k], key=k) for k in wanted if k not in found]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        found = {t.key: t for t in Tag.objects.filter(key__in=list(wanted))}
    return found


@dataclass
class _History:
    """History rows gathered during a write and inserted in bulk at the end (plain tuples, for speed)."""

    audits: list[tuple[Any, ...]] = field(default_factory=list)
    stages: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)

    def audit(
        self,
        *,
        actor: User | None,
        via: str,
        object_type: str,
        object_id: int,
        action: str,
        changes: Mapping[str, Sequence[object]],
        at: dt.datetime,
        note: str = "",
        plain: bool = False,
    ) -> None:
        """Queue one audit entry; ``plain`` says the values are already JSON-safe (no dates or decimals)."""
        clean = changes if plain else {k: [jsonable(v[0]), jsonable(v[1])] for k, v in changes.items()}
        self.audits.append((at, actor.pk if actor else None, via, object_type, object_id, action, clean, note[:300]))

    def stage(
        self,
        *,
        contact_id: int | None = None,
        account_id: int | None = None,
        old: str,
        new: str,
        actor: User | None,
        via: str,
        at: dt.datetime,
    ) -> None:
        """Queue one lifecycle-stage change."""
        self.stages.append((contact_id, account_id, old, new, at, actor.pk if actor else None, via))

    def save(self) -> None:
        """Insert everything queued."""
        bulk_insert(
            AuditEntry,
            ["at", "actor", "via", "object_type", "object_id", "action", "changes", "note"],
            self.audits,
        )
        bulk_insert(
            LifecycleChange, ["contact", "account", "from_stage", "to_stage", "at", "actor", "via"], self.stages
        )
        bulk_insert(
            ConsentChange, ["contact", "channel", "status", "previous", "at", "actor", "via", "source"], self.consents
        )


def _apply_contact(
    contact: Contact,
    cleaned: Mapping[str, Any],
    *,
    lookups: Lookups,
    source_id: int,
) -> None:
    """Set cleaned values on a contact (consent included), note their source and fill derived fields.

    On an existing contact only values that differ are set and credited to the new source, so a
    re-sent unchanged value keeps the provenance of whoever supplied it first.
    """
    state = contact.__dict__
    is_new = state["id"] is None
    provenance = state["provenance"]
    for name, value in cleaned.items():
        if name in ("tags", "consent"):
            continue
        if name == "custom":
            value = {**state["custom"], **value}
        if is_new or state.get(name) != value:
            # Every cleaned name is a concrete column's attribute name: set it without the descriptor.
            state[name] = value
            # A new record credits the source only with the values it actually gave.
            if name in CONTACT_DIRECT and name != "seniority_manual" and (value or not is_new):
                provenance[name] = source_id
    for channel, status in cleaned.get("consent", {}).items():
        name = f"consent_{channel}"
        if is_new or state[name] != status:
            state[name] = status
            provenance[name] = source_id
    derive_contact(contact, lookups)


def _contact_history(
    history: _History,
    contact: Contact,
    before: Mapping[str, object] | None,
    *,
    actor: User | None,
    via: str,
    at: dt.datetime,
    consent_source: str,
    note: str = "",
) -> bool:
    """Queue audit, lifecycle and consent rows for one contact's change; return whether anything changed."""
    after = _snapshot(contact, CONTACT_AUDITED)
    if before is None:
        changes = {f: [None, v] for f, v in after.items() if v and v != _UNKNOWN}
        plain = True  # a new contact's values are text, numbers, flags and dicts
        action = AuditEntry.Action.CREATE
        old_stage = ""
    else:
        changes = _diff(before, after)
        plain = False
        action = AuditEntry.Action.UPDATE
        old_stage = str(before["lifecycle_stage"])
        if not changes:
            return False
    history.audit(
        actor=actor,
        via=via,
        object_type="contact",
        object_id=contact.pk,
        action=action,
        changes=changes,
        note=note,
        at=at,
        plain=plain,
    )
    if contact.lifecycle_stage != old_stage:
        history.stage(contact_id=contact.pk, old=old_stage, new=contact.lifecycle_stage, actor=actor, via=via, at=at)
    actor_id = actor.pk if actor else None
    for channel, name in _CONSENT_FIELDS:
        previous = _UNKNOWN if before is None else before[name]
        if after[name] != previous:
            history.consents.append(
                (contact.pk, channel, after[name], previous, at, actor_id, via, consent_source[:200])
            )
    return True


def _created_contacts_history(
    history: _History,
    contacts: Sequence[Contact],
    *,
    actor: User | None,
    via: str,
    at: dt.datetime,
    consent_source: str,
    note: str,
    with_values: bool,
) -> None:
    """Queue the creation rows of many new contacts (the bulk twin of ``_contact_history``).

    Without ``with_values`` (imports) the creation entry names the import instead of repeating every
    value: the record holds them, each attribute's provenance points at the import, and any later change
    is audited with its old value, so nothing is lost while a 100,000-row import writes far less.
    """
    actor_id = actor.pk if actor else None
    source = consent_source[:200]
    audits, stages, consents = history.audits, history.stages, history.consents
    create = AuditEntry.Action.CREATE.value
    for contact in contacts:
        state = contact.__dict__
        changes = (
            {f: [None, state[f]] for f in CONTACT_AUDITED if state[f] and state[f] != _UNKNOWN} if with_values else {}
        )
        audits.append((at, actor_id, via, "contact", contact.pk, create, changes, note))
        stages.append((contact.pk, None, "", state["lifecycle_stage"], at, actor_id, via))
        for channel, name in _CONSENT_FIELDS:
            if state[name] != _UNKNOWN:
                consents.append((contact.pk, channel, state[name], _UNKNOWN, at, actor_id, via, source))


def _set_tags(contact_ids_to_names: Mapping[int, Sequence[str]], *, replace: bool) -> None:
    tags = tags_ensure(name for names in contact_ids_to_names.values() for name in names)
    if replace:
        for contact_id, names in contact_ids_to_names.items():
            keep = [tags[n.lower()].pk for n in names]
            ContactTag.objects.filter(contact_id=contact_id).exclude(tag_id__in=keep).delete()
    links = [
        (contact_id, tags[name.lower()].pk) for contact_id, names in contact_ids_to_names.items() for name in names
    ]
    bulk_insert(ContactTag, ["contact", "tag"], links, ignore_conflicts=True)


def _email_taken(email: str, *, exclude_id: int | None = None) -> int | None:
    from rapport.contacts.queries import contact_id_with_email

    return contact_id_with_email(email, exclude_id=exclude_id)


def _external_id_taken(
    model: type[Contact] | type[Account], external_id: str, *, exclude_id: int | None = None
) -> int | None:
    if not external_id:
        return None
    others = model.objects.filter(external_id=external_id).exclude(external_id="")  # uses the unique index
    if exclude_id is not None:
        others = others.exclude(pk=exclude_id)
    return others.values_list("pk", flat=True).first()


def _check_partner_contact(actor: User | None, cleaned: Mapping[str, Any], contact: Contact | None) -> None:
    """A partner may only file contacts under accounts shared with their organisation."""
    if actor is None or actor.role != Role.PARTNER:
        return
    account_id = cleaned.get("account_id", contact.account_id if contact else None)
    if account_id is None:
        raise invalid("account_id", "choose one of your organisation's accounts for this contact.")


def contact_create(
    *,
    actor: User | None,
    via: str,
    data: Mapping[str, Any],
    provenance: Provenance | None = None,
    from_text: bool = False,
) -> Contact:
    """Create a contact; a duplicate email raises ``Conflict`` carrying the existing contact's id."""
    _require(actor, "records.change")
    lookups = Lookups.load(actor=actor, object_type=ObjectType.CONTACT)
    cleaned = clean_contact(data, lookups, from_text=from_text)
    _check_partner_contact(actor, cleaned, None)
    now = timezone.now()
    provenance = _default_provenance(actor, via, provenance)
    with transaction.atomic():
        existing = _email_taken(cleaned.get("email", ""))
        if existing is not None:
            raise Conflict(
                f"A contact with the email {cleaned['email']} already exists.",
                [FieldError("email", "is already used by another contact.")],
                existing_id=existing,
            )
        existing = _external_id_taken(Contact, cleaned.get("external_id", ""))
        if existing is not None:
            raise Conflict(
                f"A contact with the external id {cleaned['external_id']!r} already exists.",
                [FieldError("external_id", "is already used by another contact.")],
                existing_id=existing,
            )
        contact = Contact(created_at=now, source=cleaned.get("source") or Via(via).label)
        if "owner_id" not in cleaned and actor is not None and actor.role == Role.SALES_REP:
            contact.owner_id = actor.pk
        source_id = provenance.record(via=via, at=now, actor=actor)
        _apply_contact(contact, cleaned, lookups=lookups, source_id=source_id)
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            # Another request created the same email or external id between the check and the insert.
            existing = _email_taken(contact.email) or _external_id_taken(Contact, contact.external_id)
            raise Conflict("A contact with this email or external id already exists.", existing_id=existing) from None
        if cleaned.get("tags"):
            _set_tags({contact.pk: cleaned["tags"]}, replace=False)
        history = _History()
        _contact_history(history, contact, None, actor=actor, via=via, at=now, consent_source=provenance.source)
        history.save()
    return contact


def contact_get(*, actor: User | None, contact_id: int, for_update: bool = False) -> Contact:
    """Fetch a live contact the actor may see, or raise ``NotFound`` (also when it's hidden from them)."""
    contacts = _scoped(Contact.objects.all(), actor)
    if for_update:
        contacts = contacts.select_for_update(of=("self",))
    try:
        return contacts.get(pk=contact_id)
    except (Contact.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No contact with id {contact_id}.") from None


def contact_update(
    *,
    actor: User | None,
    via: str,
    contact_id: int,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    provenance: Provenance | None = None,
    from_text: bool = False,
) -> Contact:
    """Change some fields of a contact; with ``expected_version``, refuse if someone else changed it first."""
    _require(actor, "records.change")
    lookups = Lookups.load(actor=actor, object_type=ObjectType.CONTACT)
    now = timezone.now()
    provenance = _default_provenance(actor, via, provenance)
    with transaction.atomic():
        contact = contact_get(actor=actor, contact_id=contact_id, for_update=True)
        if expected_version is not None and contact.version != expected_version:
            raise Conflict(
                "Someone else changed this contact since you opened it; reload it and make your change again.",
                existing_id=contact.pk,
            )
        cleaned = clean_contact(data, lookups, partial=True, from_text=from_text, existing=contact)
        _check_partner_contact(actor, cleaned, contact)
        if cleaned.get("email") and cleaned["email"] != contact.email:
            other = _email_taken(cleaned["email"], exclude_id=contact.pk)
            if other is not None:
                raise Conflict(
                    f"Another contact already has the email {cleaned['email']}.",
                    [FieldError("email", "is already used by another contact.")],
                    existing_id=other,
                )
        if cleaned.get("external_id") and cleaned["external_id"] != contact.external_id:
            other = _external_id_taken(Contact, cleaned["external_id"], exclude_id=contact.pk)
            if other is not None:
                raise Conflict(
                    f"Another contact already has the external id {cleaned['external_id']!r}.",
                    [FieldError("external_id", "is already used by another contact.")],
                    existing_id=other,
                )
        before = _snapshot(contact, CONTACT_AUDITED)
        _apply_contact(contact, cleaned, lookups=lookups, source_id=provenance.record(via=via, at=now, actor=actor))
        history = _History()
        changed = _contact_history(
            history, contact, before, actor=actor, via=via, at=now, consent_source=provenance.source
        )
        if changed:
            contact.version = F("version") + 1  # type: ignore[assignment]
            try:
                with transaction.atomic():
                    contact.save()
            except IntegrityError:
                raise Conflict("Another contact already has this email or external id.") from None
            contact.refresh_from_db(fields=["version", "updated_at"])
            history.save()
        if "tags" in cleaned:
            before_tags = sorted(contact.tags.values_list("name", flat=True))
            _set_tags({contact.pk: cleaned["tags"]}, replace=True)
            if sorted(cleaned["tags"]) != before_tags:
                AuditEntry.objects.create(
                    **_audit_kwargs(actor, via, "contact", contact.pk, {"tags": [before_tags, sorted(cleaned["tags"])]})
                )
    return contact


def _audit_kwargs(
    actor: User | None, via: str, object_type: str, object_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    return {
        "actor": actor,
        "via": via,
        "object_type": object_type,
        "object_id": object_id,
        "action": AuditEntry.Action.UPDATE,
        "changes": {k: [jsonable(v[0]), jsonable(v[1])] for k, v in changes.items()},
    }


def _bulk_contacts(actor: User | None, contact_ids: Iterable[int]) -> QuerySet[Contact]:
    ids = [int(i) for i in contact_ids]
    return _scoped(Contact.objects.filter(pk__in=ids), actor)


def contacts_delete(*, actor: User | None, via: str, contact_ids: Iterable[int]) -> int:
    """Delete contacts the actor may see (kept, hidden, restorable); return how many."""
    _require(actor, "records.delete")
    now = timezone.now()
    with transaction.atomic():
        ids = list(_bulk_contacts(actor, contact_ids).select_for_update(of=("self",)).values_list("pk", flat=True))
        Contact.objects.filter(pk__in=ids).update(deleted_at=now, updated_at=now, version=F("version") + 1)
        AuditEntry.objects.bulk_create(
            [
                audit_entry(actor=actor, via=via, object_type="contact", object_id=i, action="delete", at=now)
                for i in ids
            ]
        )
    return len(ids)


def contacts_restore(*, actor: User | None, via: str, contact_ids: Iterable[int]) -> int:
    """Bring deleted (not merged) contacts back, unless their email has been taken since."""
    _require(actor, "records.delete")
    now = timezone.now()
    restored = 0
    with transaction.atomic():
        for contact in Contact.all_objects.filter(
            pk__in=list(contact_ids), deleted_at__isnull=False, merged_into__isnull=True
        ).select_for_update():
            if _email_taken(contact.email) or _external_id_taken(Contact, contact.external_id):
                raise Conflict(f"{contact} can't be restored: its email or external id is now used by another contact.")
            Contact.all_objects.filter(pk=contact.pk).update(deleted_at=None, updated_at=now, version=F("version") + 1)
            AuditEntry.objects.create(
                actor=actor, via=via, object_type="contact", object_id=contact.pk, action="restore", at=now
            )
            restored += 1
    return restored


def contacts_assign_owner(*, actor: User | None, via: str, contact_ids: Iterable[int], owner_id: int | None) -> int:
    """Give contacts the actor may see a new owner (or none); return how many changed."""
    _require(actor, "records.bulk_edit")
    if owner_id is not None:
        try:
            owner_id = Lookups.load(actor=actor, object_type=ObjectType.CONTACT).user_id(owner_id)
        except ValueError as exc:
            raise invalid("owner_id", str(exc)) from None
    return _bulk_set(actor, via, Contact, contact_ids, "owner_id", owner_id)


def contacts_set_stage(*, actor: User | None, via: str, contact_ids: Iterable[int], stage: str) -> int:
    """Move contacts the actor may see to a lifecycle stage; return how many changed."""
    _require(actor, "records.bulk_edit")
    if stage not in LifecycleStage.values:
        raise invalid("lifecycle_stage", f"{stage!r} is not a lifecycle stage.")
    return _bulk_set(actor, via, Contact, contact_ids, "lifecycle_stage", stage)


def accounts_set_stage(*, actor: User | None, via: str, account_ids: Iterable[int], stage: str) -> int:
    """Move accounts the actor may see to a lifecycle stage; return how many changed."""
    _require(actor, "records.bulk_edit")
    if stage not in LifecycleStage.values:
        raise invalid("lifecycle_stage", f"{stage!r} is not a lifecycle stage.")
    return _bulk_set(actor, via, Account, account_ids, "lifecycle_stage", stage)


def _bulk_set(
    actor: User | None,
    via: str,
    model: type[Contact] | type[Account],
    ids_given: Iterable[int],
    name: str,
    value: object,
) -> int:
    """Set one field on many visible records, with audit, stage history and provenance for each changed one."""
    now = timezone.now()
    object_type = ObjectType.CONTACT.value if model is Contact else ObjectType.ACCOUNT.value
    with transaction.atomic():
        rows = list(
            _scoped(model.objects.filter(pk__in=[int(i) for i in ids_given]), actor)
            .exclude(**{name: value})
            .select_for_update(of=("self",))
            .values_list("pk", name)
        )
        ids = [pk for pk, _ in rows]
        if not ids:
            return 0
        stamp = _default_provenance(actor, via, None).record(via=via, at=now, actor=actor)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            model.objects.filter(pk__in=chunk).update(**{name: value, "updated_at": now, "version": F("version") + 1})
        history = _History()
        for pk, old in rows:
            history.audit(
                actor=actor,
                via=via,
                object_type=object_type,
                object_id=pk,
                action="update",
                changes={name: [old, value]},
                note="bulk edit",
                at=now,
            )
            if name == "lifecycle_stage":
                key = "contact_id" if model is Contact else "account_id"
                history.stage(**{key: pk}, old=str(old), new=str(value), actor=actor, via=via, at=now)
        history.save()
        records: list[Contact | Account] = list(model.objects.filter(pk__in=ids).only("pk", "provenance"))
        for record in records:
            record.provenance[name] = stamp
        update_objects(records, ["provenance"])
    return len(ids)


def contacts_tag(
    *, actor: User | None, via: str, contact_ids: Iterable[int], add: Sequence[str] = (), remove: Sequence[str] = ()
) -> int:
    """Add and remove tags on contacts the actor may see; return how many contacts were given."""
    _require(actor, "records.bulk_edit")
    from rapport.contacts.validation import clean_tags

    try:
        add = clean_tags(list(add), from_text=False)
        remove = clean_tags(list(remove), from_text=False)
    except ValueError as exc:
        raise invalid("tags", str(exc)) from None
    now = timezone.now()
    with transaction.atomic():
        ids = list(_bulk_contacts(actor, contact_ids).values_list("pk", flat=True))
        if add:
            _set_tags(dict.fromkeys(ids, add), replace=False)
        if remove:
            gone = Tag.objects.filter(key__in=[r.lower() for r in remove])
            ContactTag.objects.filter(contact_id__in=ids, tag__in=gone).delete()
        Contact.objects.filter(pk__in=ids).update(updated_at=now)
        AuditEntry.objects.bulk_create(
            [
                audit_entry(
                    actor=actor,
                    via=via,
                    object_type="contact",
                    object_id=pk,
                    action="update",
                    changes={"tags": [{"removed": list(remove)}, {"added": list(add)}]},
                    note="bulk tag",
                    at=now,
                )
                for pk in ids
            ]
        )
    return len(ids)


# --- Accounts ---------------------------------------------------------------------------------------


def account_get(*, actor: User | None, account_id: int, for_update: bool = False) -> Account:
    """Fetch a live account the actor may see, or raise ``NotFound``."""
    accounts = _scoped(Account.objects.all(), actor)
    if for_update:
        accounts = accounts.select_for_update(of=("self",))
    try:
        return accounts.get(pk=account_id)
    except (Account.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No account with id {account_id}.") from None


def _apply_account(account: Account, cleaned: Mapping[str, Any], *, lookups: Lookups, source_id: int) -> None:
    """Set cleaned values on an account, crediting changed ones to the source, and fill derived fields."""
    state = account.__dict__
    is_new = account.pk is None
    for name, value in cleaned.items():
        if name == "custom":
            value = {**state["custom"], **value}
        if is_new or state.get(name) != value:
            setattr(account, name, value)
            if value or not is_new:
                account.provenance[name] = source_id
    derive_account(account, lookups)


def _account_history(
    history: _History,
    account: Account,
    before: Mapping[str, object] | None,
    *,
    actor: User | None,
    via: str,
    at: dt.datetime,
    note: str = "",
    with_values: bool = True,
) -> bool:
    """Queue audit and lifecycle rows for one account's change; return whether anything changed.

    ``with_values=False`` records a creation without repeating its values (see ``_created_contacts_history``).
    """
    after = _snapshot(account, ACCOUNT_AUDITED)
    if before is None:
        changes = {f: [None, v] for f, v in after.items() if v not in ("", None, {})} if with_values else {}
        action, old_stage = AuditEntry.Action.CREATE, ""
    else:
        changes = _diff(before, after)
        action, old_stage = AuditEntry.Action.UPDATE, str(before["lifecycle_stage"])
        if not changes:
            return False
    history.audit(
        actor=actor,
        via=via,
        object_type="account",
        object_id=account.pk,
        action=action,
        changes=changes,
        note=note,
        at=at,
    )
    if account.lifecycle_stage != old_stage:
        history.stage(account_id=account.pk, old=old_stage, new=account.lifecycle_stage, actor=actor, via=via, at=at)
    return True


def _partner_account_rules(actor: User | None, cleaned: dict[str, Any], account: Account | None) -> None:
    """Partners file accounts under their own organisation and can't move them out of it."""
    if actor is None or actor.role != Role.PARTNER:
        return
    if "partner_organisation_id" in cleaned and cleaned["partner_organisation_id"] != actor.partner_organisation_id:
        raise invalid("partner_organisation_id", "you can only share accounts with your own organisation.")
    if account is None:
        cleaned["partner_organisation_id"] = actor.partner_organisation_id


def account_create(
    *,
    actor: User | None,
    via: str,
    data: Mapping[str, Any],
    provenance: Provenance | None = None,
    from_text: bool = False,
) -> Account:
    """Create an account."""
    _require(actor, "records.change")
    lookups = Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT)
    cleaned = clean_account(data, lookups, from_text=from_text)
    _partner_account_rules(actor, cleaned, None)
    now = timezone.now()
    provenance = _default_provenance(actor, via, provenance)
    with transaction.atomic():
        existing = _external_id_taken(Account, cleaned.get("external_id", ""))
        if existing is not None:
            raise Conflict(
                f"An account with the external id {cleaned['external_id']!r} already exists.",
                [FieldError("external_id", "is already used by another account.")],
                existing_id=existing,
            )
        account = Account(created_at=now)
        if "owner_id" not in cleaned and actor is not None and actor.role == Role.SALES_REP:
            account.owner_id = actor.pk
        _apply_account(account, cleaned, lookups=lookups, source_id=provenance.record(via=via, at=now, actor=actor))
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError:
            raise Conflict("An account with this external id already exists.") from None
        history = _History()
        _account_history(history, account, None, actor=actor, via=via, at=now)
        history.save()
    return account


def account_update(
    *,
    actor: User | None,
    via: str,
    account_id: int,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    provenance: Provenance | None = None,
    from_text: bool = False,
) -> Account:
    """Change some fields of an account; with ``expected_version``, refuse if someone else changed it first."""
    _require(actor, "records.change")
    lookups = Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT)
    now = timezone.now()
    provenance = _default_provenance(actor, via, provenance)
    with transaction.atomic():
        account = account_get(actor=actor, account_id=account_id, for_update=True)
        if expected_version is not None and account.version != expected_version:
            raise Conflict(
                "Someone else changed this account since you opened it; reload it and make your change again.",
                existing_id=account.pk,
            )
        cleaned = clean_account(data, lookups, partial=True, from_text=from_text, existing=account)
        _partner_account_rules(actor, cleaned, account)
        if cleaned.get("parent_id") and _creates_cycle(account.pk, cleaned["parent_id"]):
            raise invalid("parent_id", "that account is below this one; an account can't be its own ancestor.")
        if cleaned.get("external_id") and cleaned["external_id"] != account.external_id:
            other = _external_id_taken(Account, cleaned["external_id"], exclude_id=account.pk)
            if other is not None:
                raise Conflict(
                    f"Another account already has the external id {cleaned['external_id']!r}.", existing_id=other
                )
        before = _snapshot(account, ACCOUNT_AUDITED)
        _apply_account(account, cleaned, lookups=lookups, source_id=provenance.record(via=via, at=now, actor=actor))
        history = _History()
        if _account_history(history, account, before, actor=actor, via=via, at=now):
            account.version = F("version") + 1  # type: ignore[assignment]
            account.save()
            account.refresh_from_db(fields=["version", "updated_at"])
            history.save()
    return account


def _creates_cycle(account_id: int, parent_id: int) -> bool:
    seen = {account_id}
    current: int | None = parent_id
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = Account.all_objects.filter(pk=current).values_list("parent_id", flat=True).first()
    return False


def accounts_delete(*, actor: User | None, via: str, account_ids: Iterable[int]) -> int:
    """Delete accounts the actor may see (kept, hidden, restorable); their contacts stay, unlinked."""
    _require(actor, "records.delete")
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _scoped(Account.objects.filter(pk__in=[int(i) for i in account_ids]), actor)
            .select_for_update(of=("self",))
            .values_list("pk", flat=True)
        )
        Account.objects.filter(pk__in=ids).update(deleted_at=now, updated_at=now, version=F("version") + 1)
        AuditEntry.objects.bulk_create(
            [
                audit_entry(actor=actor, via=via, object_type="account", object_id=i, action="delete", at=now)
                for i in ids
            ]
        )
    return len(ids)


def accounts_assign_owner(*, actor: User | None, via: str, account_ids: Iterable[int], owner_id: int | None) -> int:
    """Give accounts the actor may see a new owner; return how many changed."""
    _require(actor, "records.bulk_edit")
    if owner_id is not None:
        try:
            owner_id = Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT).user_id(owner_id)
        except ValueError as exc:
            raise invalid("owner_id", str(exc)) from None
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            _scoped(Account.objects.filter(pk__in=[int(i) for i in account_ids]), actor)
            .exclude(owner_id=owner_id)
            .select_for_update(of=("self",))
            .values_list("pk", "owner_id")
        )
        Account.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            owner_id=owner_id, updated_at=now, version=F("version") + 1
        )
        AuditEntry.objects.bulk_create(
            [
                audit_entry(
                    actor=actor,
                    via=via,
                    object_type="account",
                    object_id=pk,
                    action="update",
                    changes={"owner_id": [old, owner_id]},
                    note="bulk edit",
                    at=now,
                )
                for pk, old in rows
            ]
        )
    return len(rows)


def territories_reassign() -> int:
    """Re-compute every record's territory after territory rules changed; return how many moved."""
    lookups = Lookups.load(actor=None, object_type=ObjectType.CONTACT)
    moved = 0
    with transaction.atomic():
        for model in (Contact, Account):
            pairs = model.objects.values_list("country", "region").distinct()
            for country, region in pairs:
                territory_id = lookups.territory_id(country, region)
                records = model.objects.filter(country=country, region=region)
                if territory_id is None:
                    records = records.filter(territory__isnull=False)
                else:
                    records = records.exclude(territory_id=territory_id)
                moved += records.update(territory_id=territory_id)
    return moved


# --- Custom fields and saved views ------------------------------------------------------------------


def custom_field_save(
    *,
    actor: User | None,
    object_type: str,
    key: str,
    label: str,
    field_type: str,
    choices: Sequence[str] = (),
    required: bool = False,
    help_text: str = "",
    position: int = 0,
    field_id: int | None = None,
) -> CustomField:
    """Define or change a custom field; its key and type can't change once defined."""
    _require(actor, "settings.manage")
    from django.utils.text import slugify

    errors: list[FieldError] = []
    if object_type not in ObjectType.values:
        errors.append(FieldError("object_type", "must be contact or account."))
    if field_type not in CustomField.FieldType.values:
        errors.append(FieldError("field_type", f"must be one of: {', '.join(CustomField.FieldType.values)}."))
    slug = slugify(key).replace("-", "_")
    if not slug or slug != key or not slug[0].isalpha():
        errors.append(FieldError("key", "use lower-case letters, digits and underscores, starting with a letter."))
    if not label.strip():
        errors.append(FieldError("label", "is required."))
    clean_choices = [c.strip() for c in choices if c.strip()]
    if field_type in (CustomField.FieldType.CHOICE, CustomField.FieldType.MULTI_CHOICE) and not clean_choices:
        errors.append(FieldError("choices", "list the allowed values, one per line."))
    if len({c.lower() for c in clean_choices}) != len(clean_choices):
        errors.append(FieldError("choices", "each value may appear only once."))
    if errors:
        raise ValidationFailed("The custom field is not valid.", errors)
    with transaction.atomic():
        if field_id is None:
            definition = CustomField(object_type=object_type, key=slug, field_type=field_type)
        else:
            try:
                definition = CustomField.objects.select_for_update().get(pk=field_id)
            except CustomField.DoesNotExist:
                raise NotFound(f"No custom field with id {field_id}.") from None
            if definition.field_type != field_type or definition.key != slug:
                raise invalid("field_type", "a custom field's key and type can't change; define a new field instead.")
        definition.label = label.strip()
        definition.choices = clean_choices
        definition.required = required
        definition.help_text = help_text.strip()
        definition.position = position
        try:
            with transaction.atomic():
                definition.save()
        except IntegrityError:
            raise Conflict(f"A custom field with the key {slug!r} already exists.") from None
    return definition


def custom_field_delete(*, actor: User | None, field_id: int) -> None:
    """Remove a custom field definition; values already stored stay in the records' history."""
    _require(actor, "settings.manage")
    deleted, _ = CustomField.objects.filter(pk=field_id).delete()
    if not deleted:
        raise NotFound(f"No custom field with id {field_id}.")


def saved_view_save(
    *, user: User, object_type: str, name: str, query: str, columns: Sequence[str] = (), shared: bool = False
) -> SavedView:
    """Save (or overwrite) a named list view for a user."""
    name = name.strip()
    if not name or len(name) > 100:
        raise invalid("name", "give the view a name of 1 to 100 characters.")
    if object_type not in ObjectType.values:
        raise invalid("object_type", "must be contact or account.")
    view, _ = SavedView.objects.update_or_create(
        user=user,
        object_type=object_type,
        name=name,
        defaults={"query": query[:2000], "columns": list(columns), "shared": shared},
    )
    return view


def saved_view_delete(*, user: User, view_id: int) -> None:
    """Delete one of the user's saved views."""
    deleted, _ = SavedView.objects.filter(pk=view_id, user=user).delete()
    if not deleted:
        raise NotFound(f"No saved view with id {view_id}.")


# --- Batch upsert: imports and the API's bulk endpoint ---------------------------------------------


class RowStatus:
    """What happened to one row of a batch."""

    CREATED = "created"
    UPDATED = "updated"
    MERGED = "merged"
    SKIPPED = "skipped"
    REJECTED = "rejected"


@dataclass
class RowOutcome:
    """The outcome of one row: its status, the record's id, and why it was skipped or rejected."""

    index: int
    status: str
    id: int | None = None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def reason(self) -> str:
        """All problems as one sentence, for summaries and rejected-row files."""
        return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)


def _reject(index: int, message: str, field_name: str = "") -> RowOutcome:
    return RowOutcome(index, RowStatus.REJECTED, errors=[FieldError(field_name, message)])


def _new_record_errors(cleaned: Mapping[str, Any], lookups: Lookups, *, contact: bool) -> list[FieldError]:
    """What a new record lacks that an update may leave out: a name (or email/phone) and required custom fields."""
    errors: list[FieldError] = []
    get = cleaned.get
    if contact and not (get("first_name") or get("last_name") or get("email") or get("phone")):
        errors.append(FieldError("", "A contact needs at least a name, an email address or a phone number."))
    if not contact and not get("name"):
        errors.append(FieldError("name", "An account needs a name."))
    if lookups.custom_fields:
        custom = get("custom", {})
        for key_, definition in lookups.custom_fields.items():
            if definition.required and custom.get(key_) in (None, "", []):
                errors.append(FieldError(f"custom.{key_}", f"{definition.label} is required."))
    return errors


def contacts_upsert_batch(
    *,
    actor: User | None,
    via: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    mode: str = ImportJob.Mode.UPSERT,
    match_on: str = ImportJob.MatchOn.EMAIL,
    provenance: Provenance | None = None,
    from_text: bool = False,
    import_job: ImportJob | None = None,
    lookups: Lookups | None = None,
    ready: PreparedContacts | None = None,
) -> list[RowOutcome]:
    """Create or update many contacts in one transaction with a handful of queries.

    Rows are ``(index, values)``; values may also carry ``company`` and ``company_domain``, which file the
    contact under that account (created if no account of that name exists). Rows that match a record
    already touched earlier in the same import count as ``merged``. Bad rows are rejected with reasons
    while the good ones are written. If a concurrent writer takes an email first, the batch is retried
    row by row so the good rows still go in.

    ``ready`` holds rows ``contacts_prepare`` cleaned ahead of time; then ``rows`` need only hold the ones
    it left pending, and the outcomes come in index order.
    """
    _require(actor, "records.change")
    if mode not in ImportJob.Mode.values:
        raise invalid("mode", f"{mode!r} is not a mode; use create, update or upsert.")
    if match_on not in (ImportJob.MatchOn.EMAIL, ImportJob.MatchOn.EXTERNAL_ID, ImportJob.MatchOn.NAME_COMPANY):
        raise invalid("match_on", "contacts match on email, external_id or name_company.")
    lookups = lookups or Lookups.load(actor=actor, object_type=ObjectType.CONTACT)
    provenance = _default_provenance(actor, via, provenance)
    try:
        with transaction.atomic():
            return _contacts_upsert(actor, via, rows, mode, match_on, provenance, from_text, import_job, lookups, ready)
    except IntegrityError:
        pass
    # Row by row, from the cleaned values (which writing leaves as they were) or from the given ones.
    outcomes: list[RowOutcome] = []
    singles: list[tuple[int, Sequence[tuple[int, Mapping[str, Any]]], PreparedContacts | None]]
    if ready is not None:
        ready = contacts_prepare(rows, lookups=lookups, match_on=match_on, from_text=from_text, ready=ready)
        outcomes += ready.outcomes.values()
        singles = [(prepared[0], [], PreparedContacts(rows=[prepared])) for prepared in ready.rows]
    else:
        singles = [(row[0], [row], None) for row in rows]
    for index, single, single_ready in singles:
        try:
            with transaction.atomic():
                outcomes += _contacts_upsert(
                    actor, via, single, mode, match_on, provenance, from_text, import_job, lookups, single_ready
                )
        except IntegrityError:
            outcomes.append(
                _reject(index, "Another change took this email or external id at the same moment; retry the row.")
            )
    if ready is not None:
        outcomes.sort(key=lambda outcome: outcome.index)
    return outcomes


def _contact_key(match_on: str, cleaned: Mapping[str, Any], company_key: str) -> tuple[str, ...] | None:
    if match_on == ImportJob.MatchOn.EMAIL:
        return (cleaned["email"],) if cleaned.get("email") else None
    if match_on == ImportJob.MatchOn.EXTERNAL_ID:
        return (cleaned["external_id"],) if cleaned.get("external_id") else None
    first, last = normalise_key(cleaned.get("first_name", "")), normalise_key(cleaned.get("last_name", ""))
    account_ref = f"#{cleaned['account_id']}" if cleaned.get("account_id") else company_key
    if not (first or last) or not account_ref:
        return None
    return (first, last, account_ref)


def normalise_key(text: str) -> str:
    """Search key of a name (see ``normalise.key``)."""
    from rapport.contacts.normalise import key

    return key(text)


_Prepared = tuple[int, dict[str, Any], tuple[str, ...] | None, tuple[str, str, str] | None]


@dataclass
class PreparedContacts:
    """Rows cleaned ahead of writing, each as ``(index, cleaned, match key, company)`` or a rejection,
    and the indexes of rows left to finish where the database may be read (see ``contacts_prepare``)."""

    rows: list[_Prepared] = field(default_factory=list)
    outcomes: dict[int, RowOutcome] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)


def contacts_prepare(
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    lookups: Lookups,
    match_on: str,
    from_text: bool = False,
    ready: PreparedContacts | None = None,
) -> PreparedContacts:
    """Clean rows for ``contacts_upsert_batch`` without writing anything.

    An import cleans the next batch in a separate process while this one writes; rows whose cleaning
    needs a database read are left pending there and finished here, given what was ``ready``.
    """
    from rapport.contacts.normalise import domain as normalise_domain

    result = PreparedContacts()
    if ready is not None:
        result.rows, result.outcomes = list(ready.rows), dict(ready.outcomes)
        rows = [row for row in rows if row[0] in ready.pending]
    for index, raw in rows:
        values = dict(raw)
        company = str(values.pop("company", "") or "").strip()
        company_domain = str(values.pop("company_domain", "") or "").strip()
        try:
            cleaned = clean_contact(values, lookups, partial=True, from_text=from_text)
            if len(company) > 200:
                raise ValidationFailed("", [FieldError("company", "is too long (at most 200 characters).")])
            if company_domain:
                try:
                    company_domain = normalise_domain(company_domain)
                except ValueError as exc:
                    raise ValidationFailed("", [FieldError("company_domain", str(exc))]) from None
        except ValidationFailed as exc:
            result.outcomes[index] = RowOutcome(index, RowStatus.REJECTED, errors=exc.errors)
            continue
        except NeedsDatabase:
            result.pending.add(index)
            continue
        company_ref = (
            (company, normalise_key(company), company_domain) if company and not cleaned.get("account_id") else None
        )
        result.rows.append(
            (index, cleaned, _contact_key(match_on, cleaned, company_ref[1] if company_ref else ""), company_ref)
        )
    if ready is not None:
        # The file's order decides which of two rows with one key creates the record and which merges.
        result.rows.sort(key=lambda r: r[0])
    return result


def _contacts_upsert(
    actor: User | None,
    via: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    mode: str,
    match_on: str,
    provenance: Provenance,
    from_text: bool,
    import_job: ImportJob | None,
    lookups: Lookups,
    ready: PreparedContacts | None = None,
) -> list[RowOutcome]:
    now = timezone.now()
    source_label = Via(via).label
    source_id = provenance.record(via=via, at=now, actor=actor, import_job=import_job)
    job_id = import_job.pk if import_job is not None else None
    given_ready = ready is not None
    if ready is None or ready.pending:
        ready = contacts_prepare(rows, lookups=lookups, match_on=match_on, from_text=from_text, ready=ready)
    outcomes = dict(ready.outcomes)
    prepared = ready.rows

    # Existing records matching the rows' keys, locked for the length of the batch.
    keys = {k for _, _, k, _ in prepared if k}
    existing: dict[tuple[str, ...], Contact] = {}
    if keys:
        candidates = Contact.objects.select_for_update(of=("self",))
        if match_on == ImportJob.MatchOn.EMAIL:
            candidates = candidates.filter(email__any_of=[k[0] for k in keys]).exclude(email="").order_by()
            existing = {(c.email,): c for c in candidates}
        elif match_on == ImportJob.MatchOn.EXTERNAL_ID:
            candidates = candidates.filter(external_id__any_of=[k[0] for k in keys]).exclude(external_id="").order_by()
            existing = {(c.external_id,): c for c in candidates}
        else:
            candidates = candidates.filter(
                last_name_key__any_of=list({k[1] for k in keys}),
                first_name_key__any_of=list({k[0] for k in keys}),
                account__isnull=False,
            ).select_related("account")
            for c in candidates.order_by("id"):
                assert c.account is not None
                existing.setdefault((c.first_name_key, c.last_name_key, c.account.name_key), c)
                existing.setdefault((c.first_name_key, c.last_name_key, f"#{c.account_id}"), c)
    visible_ids = {c.pk for c in existing.values()}
    if actor is not None and visible_ids:
        visible_ids = set(
            _scoped(Contact.objects.filter(pk__any_of=list(visible_ids)), actor).values_list("pk", flat=True)
        )

    # Who already holds the emails and external ids the rows want, to refuse taking another's.
    wanted_emails = {c["email"] for _, c, _, _ in prepared if c.get("email")}
    wanted_external = {c["external_id"] for _, c, _, _ in prepared if c.get("external_id")}
    email_holder: dict[str, int | Contact] = {}
    external_holder: dict[str, int | Contact] = {}
    if match_on != ImportJob.MatchOn.EMAIL and wanted_emails:
        email_holder = dict(
            Contact.objects.filter(email__any_of=list(wanted_emails)).exclude(email="").values_list("email", "pk")
        )
    if match_on != ImportJob.MatchOn.EXTERNAL_ID and wanted_external:
        external_holder = dict(
            Contact.objects.filter(external_id__any_of=list(wanted_external))
            .exclude(external_id="")
            .values_list("external_id", "pk")
        )

    accounts = _accounts_for_companies(actor, via, [c for _, _, _, c in prepared if c], source_id, import_job, now)

    targets: dict[tuple[str, ...], Contact | None] = {}
    new_contacts: list[Contact] = []
    before: dict[int, dict[str, object]] = {}
    before_derived: dict[int, dict[str, object]] = {}
    row_target: list[tuple[int, Contact]] = []
    tags: dict[int, list[str]] = {}  # id(contact) -> tag names
    for index, cleaned, key_, company_ref in prepared:
        target: Contact | None = None
        if key_ is not None and key_ in targets:
            target = targets[key_]
            if target is None:  # matched a record this mode leaves alone
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    errors=[FieldError("", "Already exists; the import only creates new records.")],
                )
                continue
            status = RowStatus.MERGED
        elif key_ is not None and key_ in existing:
            found = existing[key_]
            if found.pk not in visible_ids:
                outcomes[index] = _reject(index, "A contact with this key exists but is not shared with you.", match_on)
                continue
            if mode == ImportJob.Mode.CREATE:
                targets[key_] = None
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    found.pk,
                    [FieldError("", "Already exists; the import only creates new records.")],
                )
                continue
            target = found
            targets[key_] = target
            status = (
                RowStatus.MERGED
                if import_job is not None and found.import_job_id == import_job.pk
                else RowStatus.UPDATED
            )
        else:
            if mode == ImportJob.Mode.UPDATE:
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    errors=[FieldError("", f"No existing contact matches on {match_on}; the import only updates.")],
                )
                continue
            problems = _new_record_errors(cleaned, lookups, contact=True)
            if problems:
                outcomes[index] = RowOutcome(index, RowStatus.REJECTED, errors=problems)
                continue
            target = new_instance(Contact, created_at=now, source=source_label, import_job_id=job_id)
            if actor is not None and actor.role == Role.SALES_REP and "owner_id" not in cleaned:
                target.owner_id = actor.pk
            status = RowStatus.CREATED
        # Refuse to take an email or external id that another contact holds.
        clash = None
        for name, holders in (("email", email_holder), ("external_id", external_holder)):
            value = cleaned.get(name)
            if value and value != getattr(target, name):
                holder = holders.get(value)
                if holder is not None and holder is not target and holder != target.pk:
                    clash = _reject(
                        index,
                        f"{value} belongs to another contact"
                        + (f" (id {holder})." if isinstance(holder, int) else " in this file."),
                        name,
                    )
        if clash is not None:
            outcomes[index] = clash
            continue
        try:
            _check_partner_contact(actor, cleaned, target if target.pk else None)
        except ValidationFailed as exc:
            outcomes[index] = RowOutcome(index, RowStatus.REJECTED, errors=exc.errors)
            continue
        if status == RowStatus.CREATED:
            new_contacts.append(target)
            if key_ is not None:
                targets[key_] = target
        elif target.pk is not None and target.pk not in before:
            before[target.pk] = _snapshot(target, CONTACT_AUDITED)
            before_derived[target.pk] = _snapshot(target, _CONTACT_DERIVED)
        for name, holders in (("email", email_holder), ("external_id", external_holder)):
            if cleaned.get(name) and match_on != name:
                holders[cleaned[name]] = target
        if company_ref is not None:
            cleaned = {**cleaned, "account_id": accounts[company_ref[1]]}
        _apply_contact(target, cleaned, lookups=lookups, source_id=source_id)
        if cleaned.get("tags"):
            tags.setdefault(id(target), []).extend(cleaned["tags"])
        outcomes[index] = RowOutcome(index, status)
        row_target.append((index, target))

    for contact in new_contacts:
        contact.updated_at = now
    insert_objects(new_contacts)
    history = _History()
    note = f"import #{import_job.pk}" if import_job is not None else ""
    _created_contacts_history(
        history,
        new_contacts,
        actor=actor,
        via=via,
        at=now,
        consent_source=provenance.source,
        note=note,
        with_values=import_job is None,
    )
    changed: list[Contact] = []
    by_pk = {c.pk: c for _, c in row_target if c.pk in before}
    # Write back only the columns that changed: an UPDATE naming a column rewrites every index on it.
    groups: dict[tuple[str, ...], list[Contact]] = {}
    for pk, snapshot in before.items():
        contact = by_pk[pk]
        if _contact_history(
            history, contact, snapshot, actor=actor, via=via, at=now, consent_source=provenance.source, note=note
        ):
            contact.version += 1
            contact.updated_at = now
            changed.append(contact)
            state = contact.__dict__
            columns = tuple(f for f in CONTACT_UPDATED_COLUMNS if f in snapshot and state[f] != snapshot[f])
            derived = tuple(f for f, old in before_derived[pk].items() if state[f] != old)
            groups.setdefault((*columns, *derived, "provenance", "version", "updated_at"), []).append(contact)
    for columns, contacts in groups.items():
        update_objects(contacts, columns)
    changed_ids = {c.pk for c in changed}
    by_object = {id(c): c for _, c in row_target}
    if tags:
        tagged = {by_object[obj].pk: names for obj, names in tags.items()}
        # Tags added to existing contacts count as a change, with their own audit entry.
        had: dict[int, set[str]] = {}
        for contact_id, tag_key in ContactTag.objects.filter(
            contact_id__in=[pk for pk in tagged if pk in before]
        ).values_list("contact_id", "tag__key"):
            had.setdefault(contact_id, set()).add(tag_key)
        for contact_id in (pk for pk in tagged if pk in before):
            old = had.get(contact_id, set())
            added = sorted({n.lower() for n in tagged[contact_id]} - old)
            if added:
                changed_ids.add(contact_id)
                history.audit(
                    actor=actor,
                    via=via,
                    object_type="contact",
                    object_id=contact_id,
                    action=AuditEntry.Action.UPDATE,
                    changes={"tags": [sorted(old), sorted(old | set(added))]},
                    note=note,
                    at=now,
                    plain=True,
                )
        _set_tags(tagged, replace=False)
    history.save()
    for index, contact in row_target:
        outcome = outcomes[index]
        outcome.id = contact.pk
        if outcome.status == RowStatus.UPDATED and contact.pk not in changed_ids:
            outcome.status = RowStatus.SKIPPED
            outcome.errors = [FieldError("", "No changes: the record already has these values.")]
    if given_ready:
        return [outcomes[index] for index in sorted(outcomes)]
    return [outcomes[index] for index, _ in rows]


def _accounts_for_companies(
    actor: User | None,
    via: str,
    companies: Sequence[tuple[str, str, str]],
    source_id: int,
    import_job: ImportJob | None,
    now: dt.datetime,
) -> dict[str, int]:
    """Map company name keys to account ids, creating accounts for names not found among visible ones."""
    if not companies:
        return {}
    by_key: dict[str, tuple[str, str]] = {}
    for name, key_, company_domain in companies:
        by_key.setdefault(key_, (name, company_domain))
    found: dict[str, int] = {}
    for pk, key_ in (
        _scoped(Account.objects.filter(name_key__any_of=list(by_key)), actor)
        .order_by("id")
        .values_list("pk", "name_key")
    ):
        found.setdefault(key_, pk)
    missing = [k for k in by_key if k not in found]
    if missing:
        account_lookups = Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT)
        stamp = source_id
        created = []
        for key_ in missing:
            name, company_domain = by_key[key_]
            account = new_instance(
                Account,
                name=name,
                domain=company_domain,
                created_at=now,
                import_job_id=import_job.pk if import_job is not None else None,
            )
            account.provenance = {"name": stamp, **({"domain": stamp} if company_domain else {})}
            if actor is not None and actor.role == Role.SALES_REP:
                account.owner_id = actor.pk
            if actor is not None and actor.role == Role.PARTNER:
                account.partner_organisation_id = actor.partner_organisation_id
            derive_account(account, account_lookups)
            account.updated_at = now
            created.append(account)
        insert_objects(created)
        history = _History()
        note = f"import #{import_job.pk}" if import_job is not None else ""
        for account in created:
            _account_history(
                history, account, None, actor=actor, via=via, at=now, note=note, with_values=import_job is None
            )
            found[account.name_key] = account.pk
        history.save()
    return found


def accounts_upsert_batch(
    *,
    actor: User | None,
    via: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    mode: str = ImportJob.Mode.UPSERT,
    match_on: str = ImportJob.MatchOn.DOMAIN,
    provenance: Provenance | None = None,
    from_text: bool = False,
    import_job: ImportJob | None = None,
    lookups: Lookups | None = None,
) -> list[RowOutcome]:
    """Create or update many accounts in one transaction, matched on domain, external id or name."""
    _require(actor, "records.change")
    if mode not in ImportJob.Mode.values:
        raise invalid("mode", f"{mode!r} is not a mode; use create, update or upsert.")
    if match_on == ImportJob.MatchOn.EMAIL:
        match_on = ImportJob.MatchOn.DOMAIN
    if match_on not in (ImportJob.MatchOn.DOMAIN, ImportJob.MatchOn.EXTERNAL_ID, ImportJob.MatchOn.NAME_COMPANY):
        raise invalid("match_on", "accounts match on domain, external_id or name_company (the name).")
    lookups = lookups or Lookups.load(actor=actor, object_type=ObjectType.ACCOUNT)
    provenance = _default_provenance(actor, via, provenance)
    try:
        with transaction.atomic():
            return _accounts_upsert(actor, via, rows, mode, match_on, provenance, from_text, import_job, lookups)
    except IntegrityError:
        outcomes: list[RowOutcome] = []
        for row in rows:
            try:
                with transaction.atomic():
                    outcomes += _accounts_upsert(
                        actor, via, [row], mode, match_on, provenance, from_text, import_job, lookups
                    )
            except IntegrityError:
                outcomes.append(
                    _reject(row[0], "Another change took this external id at the same moment; retry the row.")
                )
        return outcomes


def _account_key(match_on: str, cleaned: Mapping[str, Any]) -> str | None:
    if match_on == ImportJob.MatchOn.DOMAIN:
        return cleaned.get("domain") or None
    if match_on == ImportJob.MatchOn.EXTERNAL_ID:
        return cleaned.get("external_id") or None
    return normalise_key(cleaned.get("name", "")) or None


def _accounts_upsert(
    actor: User | None,
    via: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    mode: str,
    match_on: str,
    provenance: Provenance,
    from_text: bool,
    import_job: ImportJob | None,
    lookups: Lookups,
) -> list[RowOutcome]:
    now = timezone.now()
    source_id = provenance.record(via=via, at=now, actor=actor, import_job=import_job)
    outcomes: dict[int, RowOutcome] = {}
    prepared: list[tuple[int, dict[str, Any], str | None]] = []
    for index, raw in rows:
        try:
            cleaned = clean_account(raw, lookups, partial=True, from_text=from_text)
            _partner_account_rules(actor, cleaned, Account())  # checks only; new accounts get the org below
        except ValidationFailed as exc:
            outcomes[index] = RowOutcome(index, RowStatus.REJECTED, errors=exc.errors)
            continue
        prepared.append((index, cleaned, _account_key(match_on, cleaned)))
    keys = {k for _, _, k in prepared if k}
    column = {"domain": "domain", "external_id": "external_id", "name_company": "name_key"}[match_on]
    existing: dict[str, Account] = {}
    if keys:
        candidates = Account.objects.select_for_update(of=("self",)).filter(**{f"{column}__in": keys})
        for account in candidates.exclude(**{column: ""}).order_by("id"):
            existing.setdefault(getattr(account, column), account)
    visible_ids = {a.pk for a in existing.values()}
    if actor is not None and visible_ids:
        visible_ids = set(_scoped(Account.objects.filter(pk__in=visible_ids), actor).values_list("pk", flat=True))
    external_holder: dict[str, int | Account] = {}
    wanted_external = {c["external_id"] for _, c, _ in prepared if c.get("external_id")}
    if match_on != ImportJob.MatchOn.EXTERNAL_ID and wanted_external:
        external_holder = dict(
            Account.objects.filter(external_id__in=wanted_external)
            .exclude(external_id="")
            .values_list("external_id", "pk")
        )

    targets: dict[str, Account | None] = {}
    new_accounts: list[Account] = []
    before: dict[int, dict[str, object]] = {}
    row_target: list[tuple[int, Account]] = []
    for index, cleaned, key_ in prepared:
        if key_ is not None and key_ in targets:
            target = targets[key_]
            if target is None:
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    errors=[FieldError("", "Already exists; the import only creates new records.")],
                )
                continue
            status = RowStatus.MERGED
        elif key_ is not None and key_ in existing:
            found = existing[key_]
            if found.pk not in visible_ids:
                outcomes[index] = _reject(
                    index, "An account with this key exists but is not shared with you.", match_on
                )
                continue
            if mode == ImportJob.Mode.CREATE:
                targets[key_] = None
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    found.pk,
                    [FieldError("", "Already exists; the import only creates new records.")],
                )
                continue
            target = found
            targets[key_] = target
            status = (
                RowStatus.MERGED
                if import_job is not None and found.import_job_id == import_job.pk
                else RowStatus.UPDATED
            )
        else:
            if mode == ImportJob.Mode.UPDATE:
                outcomes[index] = RowOutcome(
                    index,
                    RowStatus.SKIPPED,
                    errors=[FieldError("", f"No existing account matches on {match_on}; the import only updates.")],
                )
                continue
            problems = _new_record_errors(cleaned, lookups, contact=False)
            if problems:
                outcomes[index] = RowOutcome(index, RowStatus.REJECTED, errors=problems)
                continue
            target = new_instance(Account, created_at=now, import_job_id=import_job.pk if import_job else None)
            if actor is not None and actor.role == Role.SALES_REP and "owner_id" not in cleaned:
                target.owner_id = actor.pk
            if actor is not None and actor.role == Role.PARTNER:
                target.partner_organisation_id = actor.partner_organisation_id
            status = RowStatus.CREATED
        value = cleaned.get("external_id")
        if value and value != target.external_id:
            holder = external_holder.get(value)
            if holder is not None and holder is not target and holder != target.pk:
                outcomes[index] = _reject(index, f"{value} belongs to another account.", "external_id")
                continue
            if match_on != ImportJob.MatchOn.EXTERNAL_ID:
                external_holder[value] = target
        if status == RowStatus.CREATED:
            new_accounts.append(target)
            if key_ is not None:
                targets[key_] = target
        elif target.pk is not None and target.pk not in before:
            before[target.pk] = _snapshot(target, ACCOUNT_AUDITED)
        _apply_account(target, cleaned, lookups=lookups, source_id=source_id)
        outcomes[index] = RowOutcome(index, status)
        row_target.append((index, target))

    for account in new_accounts:
        account.updated_at = now
    insert_objects(new_accounts)
    history = _History()
    note = f"import #{import_job.pk}" if import_job is not None else ""
    for account in new_accounts:
        _account_history(
            history, account, None, actor=actor, via=via, at=now, note=note, with_values=import_job is None
        )
    changed: list[Account] = []
    by_pk = {a.pk: a for _, a in row_target}
    for pk, snapshot in before.items():
        account = by_pk[pk]
        if _account_history(history, account, snapshot, actor=actor, via=via, at=now, note=note):
            account.version += 1
            account.updated_at = now
            changed.append(account)
    if changed:
        update_objects(changed, ACCOUNT_UPDATED_COLUMNS)
    history.save()
    changed_ids = {a.pk for a in changed}
    for index, account in row_target:
        outcome = outcomes[index]
        outcome.id = account.pk
        if outcome.status == RowStatus.UPDATED and account.pk not in changed_ids:
            outcome.status = RowStatus.SKIPPED
            outcome.errors = [FieldError("", "No changes: the record already has these values.")]
    return [outcomes[index] for index, _ in rows]
