"""Merging duplicate contacts and accounts: choices per field, what moves, what is kept, who may merge."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rapport.contacts import duplicates, services
from rapport.contacts.duplicates import account_merge, contact_merge
from rapport.contacts.models import (
    Account,
    ConsentChange,
    Contact,
    DuplicateCandidate,
    LifecycleChange,
    ObjectType,
)
from rapport.core.access import CAPABILITIES
from rapport.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from rapport.core.models import AuditEntry, Role, Via
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def create(world, **data) -> Contact:
    return services.contact_create(actor=world.admin, via=Via.PAGE, data=data)


def merge(world, survivor, other, choices=None, actor=None) -> Contact:
    return contact_merge(
        actor=actor or world.admin, via=Via.PAGE, survivor_id=survivor.pk, other_id=other.pk, choices=choices
    )


def tags_of(contact: Contact) -> list[str]:
    return sorted(contact.tags.values_list("name", flat=True))


def test_merge_keeps_the_older_created_at(world):
    # Given a survivor created after the record merged into it
    survivor = create(world, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    other = create(world, first_name="Ada", last_name="Lovelace", email="ada.l@example.com")
    older = timezone.now() - dt.timedelta(days=400)
    Contact.objects.filter(pk=other.pk).update(created_at=older)

    # When they are merged
    merged = merge(world, survivor, other)

    # Then the survivor has the other's, older, creation time, and the audit entry says so
    assert merged.created_at == older
    entry = AuditEntry.objects.get(object_type="contact", object_id=survivor.pk, action=AuditEntry.Action.MERGE)
    assert entry.changes["created_at"][1] == older.isoformat()


def test_merge_keeps_the_survivors_created_at_when_it_is_older(world):
    survivor = create(world, first_name="Ada", last_name="Lovelace")
    other = create(world, first_name="Ada", last_name="Lovelace")
    created = Contact.objects.get(pk=survivor.pk).created_at

    merged = merge(world, survivor, other)

    assert merged.created_at == created


def test_merge_applies_per_field_choices_and_fills_empty_survivor_fields(world):
    survivor = create(
        world, first_name="Jonathon", last_name="Smith", phone="+14155550100", job_title="", department="Sales"
    )
    other = create(
        world,
        first_name="Jonathan",
        last_name="Smith",
        phone="+14155550199",
        job_title="Head of Sales",
        department="IT",
    )

    merged = merge(world, survivor, other, choices={"first_name": "other"})

    # Chosen: the other's first name. Default: the survivor's phone and department. Empty: the other's title.
    assert (merged.first_name, merged.first_name_key) == ("Jonathan", "jonathan")
    assert merged.phone == "+14155550100"
    assert merged.department == "Sales"
    assert merged.job_title == "Head of Sales"
    assert merged.seniority == "vp"  # derived again from the title taken over
    assert merged.version == survivor.version + 1


def test_merge_fields_lists_only_differing_fields_with_their_defaults(world):
    survivor = create(world, first_name="Ada", last_name="Lovelace", city="", consent={"email": "granted"})
    other = create(world, first_name="Ada", last_name="King", city="London", consent={"email": "denied"})

    fields = duplicates.merge_fields(object_type=ObjectType.CONTACT, survivor=survivor, other=other)

    assert [(f.name, f.survivor_value, f.other_value, f.default) for f in fields] == [
        ("last_name", "Lovelace", "King", "survivor"),
        ("city", "", "London", "other"),
        ("consent_email", "granted", "denied", "other"),
    ]


def test_merge_unites_tags(world):
    survivor = create(world, first_name="Ada", tags=["VIP", "newsletter"])
    other = create(world, first_name="Ada", tags=["newsletter", "webinar"])

    merged = merge(world, survivor, other)

    assert tags_of(merged) == ["VIP", "newsletter", "webinar"]
    assert tags_of(Contact.all_objects.get(pk=other.pk)) == []
    entry = AuditEntry.objects.get(object_type="contact", object_id=survivor.pk, action=AuditEntry.Action.MERGE)
    assert entry.changes["tags"] == [["VIP", "newsletter"], ["VIP", "newsletter", "webinar"]]


def test_merge_moves_consent_and_lifecycle_history(world):
    survivor = create(world, first_name="Ada", lifecycle_stage="lead")
    other = create(world, first_name="Ada", lifecycle_stage="mql", consent={"sms": "granted"})
    services.contact_update(actor=world.admin, via=Via.API, contact_id=other.pk, data={"lifecycle_stage": "sql"})

    merge(world, survivor, other)

    assert ConsentChange.objects.filter(contact_id=other.pk).count() == 0
    assert LifecycleChange.objects.filter(contact_id=other.pk).count() == 0
    assert sorted(
        ConsentChange.objects.filter(contact_id=survivor.pk).values_list("channel", "previous", "status")
    ) == [
        ("sms", "unknown", "granted"),  # the other's history, moved
        ("sms", "unknown", "granted"),  # the survivor taking the other's consent in the merge
    ]
    assert sorted(LifecycleChange.objects.filter(contact_id=survivor.pk).values_list("from_stage", "to_stage")) == [
        ("", "lead"),
        ("", "mql"),
        ("mql", "sql"),
    ]


def test_merge_records_a_stage_change_when_the_others_stage_is_chosen(world):
    survivor = create(world, first_name="Ada", lifecycle_stage="lead")
    other = create(world, first_name="Ada", lifecycle_stage="customer")

    merged = merge(world, survivor, other, choices={"lifecycle_stage": "other"})

    assert merged.lifecycle_stage == "customer"
    change = LifecycleChange.objects.filter(contact_id=survivor.pk).order_by("-id").first()
    assert (change.from_stage, change.to_stage, change.via) == ("lead", "customer", Via.PAGE)


def test_merge_takes_the_others_email_and_external_id_when_chosen(world):
    survivor = create(world, first_name="Ada", email="ada@old.example", external_id="CRM-1")
    other = create(world, first_name="Ada", email="ada@new.example", external_id="CRM-2")

    merged = merge(world, survivor, other, choices={"email": "other", "external_id": "other"})

    assert (merged.email, merged.external_id) == ("ada@new.example", "CRM-2")
    # The merged-away record keeps its values; the unique constraints only cover live rows.
    kept = Contact.all_objects.get(pk=other.pk)
    assert (kept.email, kept.external_id) == ("ada@new.example", "CRM-2")


def test_the_merged_contact_is_kept_soft_deleted_with_merged_into_and_its_values(world):
    survivor = create(world, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    other = create(world, first_name="Ada", last_name="King", email="countess@example.com", city="London")

    merge(world, survivor, other)

    assert not Contact.objects.filter(pk=other.pk).exists()
    kept = Contact.all_objects.get(pk=other.pk)
    assert kept.merged_into_id == survivor.pk
    assert kept.deleted_at is not None
    assert (kept.last_name, kept.email, kept.city) == ("King", "countess@example.com", "London")
    # Its email is free again: a new contact may use it.
    assert create(world, first_name="Someone", email="countess@example.com").pk


def test_merge_writes_audit_entries_on_both_records(world):
    survivor = create(world, first_name="Ada", last_name="Lovelace")
    other = create(world, first_name="Ada", last_name="King", city="London")

    merge(world, survivor, other, choices={"last_name": "other"})

    on_survivor = AuditEntry.objects.get(object_type="contact", object_id=survivor.pk, action=AuditEntry.Action.MERGE)
    on_other = AuditEntry.objects.get(object_type="contact", object_id=other.pk, action=AuditEntry.Action.MERGE)
    assert on_survivor.note == f"merged from contact #{other.pk}"
    assert on_other.note == f"merged into #{survivor.pk}"
    assert (on_survivor.actor, on_survivor.via) == (world.admin, Via.PAGE)
    assert on_survivor.changes["last_name"] == ["Lovelace", "King"]
    assert on_survivor.changes["city"] == ["", "London"]
    assert on_other.changes["merged_into_id"] == [None, survivor.pk]


def test_denied_consent_wins_by_default(world):
    survivor = create(world, first_name="Ada", consent={"email": "granted", "phone": "denied", "sms": "unknown"})
    other = create(world, first_name="Ada", consent={"email": "denied", "phone": "granted", "sms": "granted"})

    merged = merge(world, survivor, other)

    # Denied on either side stays denied; an unknown survivor takes the other's granted.
    assert merged.consent() == {"email": "denied", "phone": "denied", "sms": "granted", "post": "unknown"}
    change = ConsentChange.objects.get(contact_id=survivor.pk, channel="email", source__startswith="merged")
    assert (change.previous, change.status, change.source) == ("granted", "denied", f"merged from contact #{other.pk}")


def test_a_user_may_choose_granted_consent_over_denied_explicitly(world):
    survivor = create(world, first_name="Ada", consent={"email": "denied"})
    other = create(world, first_name="Ada", consent={"email": "granted"})

    merged = merge(world, survivor, other, choices={"consent_email": "other"})

    assert merged.consent_email == "granted"


def test_custom_fields_are_merged_per_key(world):
    survivor = create(world, first_name="Ada")
    other = create(world, first_name="Ada")
    Contact.objects.filter(pk=survivor.pk).update(custom={"language": "en", "shoe": "38"})
    Contact.objects.filter(pk=other.pk).update(custom={"language": "de", "shoe": "39", "team": "blue"})

    merged = merge(world, survivor, other, choices={"custom.shoe": "other"})

    assert merged.custom == {"language": "en", "shoe": "39", "team": "blue"}


def test_merge_refuses_unknown_fields_and_sides_in_choices(world):
    survivor = create(world, first_name="Ada")
    other = create(world, first_name="Bob")

    with pytest.raises(ValidationFailed) as caught:
        merge(world, survivor, other, choices={"password": "other", "first_name": "both"})

    assert [e.field for e in caught.value.errors] == ["choices.password", "choices.first_name"]
    assert Contact.objects.filter(pk=other.pk).exists()


def test_merge_refuses_to_merge_a_contact_with_itself(world):
    contact = create(world, first_name="Ada")

    with pytest.raises(ValidationFailed) as caught:
        merge(world, contact, contact)

    assert caught.value.errors[0].field == "other_id"


def test_merge_refuses_an_already_merged_contact(world):
    a = create(world, first_name="Ada")
    b = create(world, first_name="Ada")
    c = create(world, first_name="Ada")
    merge(world, a, b)

    with pytest.raises(Conflict) as caught:
        merge(world, c, b)

    assert caught.value.message == f"Contact #{b.pk} was already merged into #{a.pk}."
    assert caught.value.existing_id == a.pk


def test_merge_refuses_a_deleted_contact(world):
    a = create(world, first_name="Ada")
    b = create(world, first_name="Ada")
    services.contacts_delete(actor=world.admin, via=Via.PAGE, contact_ids=[b.pk])

    with pytest.raises(Conflict):
        merge(world, a, b)


def test_merge_of_a_contact_the_actor_cannot_see_is_not_found(world, monkeypatch):
    # Given a rep allowed to merge (no role is today, but the check must not rely on that)
    monkeypatch.setitem(CAPABILITIES, "records.merge", frozenset({Role.SALES_REP}))
    mine = ContactFactory(owner=world.rep, first_name="Ada")
    hidden = ContactFactory(owner=world.other_rep, first_name="Ada")

    with pytest.raises(NotFound) as caught:
        merge(world, mine, hidden, actor=world.rep)

    assert caught.value.message == f"No contact with id {hidden.pk}."
    assert Contact.objects.filter(pk=hidden.pk).exists()


@pytest.mark.parametrize("role_user", ["rep", "agent", "partner"])
def test_roles_without_the_merge_capability_may_not_merge(world, role_user):
    a = ContactFactory(owner=getattr(world, role_user))
    b = ContactFactory(owner=getattr(world, role_user))

    with pytest.raises(Forbidden):
        merge(world, a, b, actor=getattr(world, role_user))

    assert Contact.objects.filter(pk__in=[a.pk, b.pk]).count() == 2


@pytest.mark.parametrize("role_user", ["admin", "marketer", "manager"])
def test_roles_with_the_merge_capability_may_merge(world, role_user):
    a = create(world, first_name="Ada")
    b = create(world, first_name="Ada")

    merge(world, a, b, actor=getattr(world, role_user))

    assert Contact.all_objects.get(pk=b.pk).merged_into_id == a.pk


def test_merge_marks_the_duplicate_pair_merged(world):
    a = create(world, first_name="Ada", last_name="Lovelace", phone="+441234567890")
    b = create(world, first_name="Ada", last_name="Lovelace", phone="+441234567891")
    candidate = DuplicateCandidate.objects.create(object_type="contact", first_id=a.pk, second_id=b.pk, score=90)

    merge(world, b, a)  # the newer record survives this time

    candidate.refresh_from_db()
    assert candidate.status == DuplicateCandidate.Status.MERGED


def test_records_merged_earlier_into_the_other_now_point_to_the_survivor(world):
    a, b, c = (create(world, first_name="Ada") for _ in range(3))
    merge(world, b, c)

    merge(world, a, b)

    assert Contact.all_objects.get(pk=c.pk).merged_into_id == a.pk
    assert Contact.all_objects.get(pk=b.pk).merged_into_id == a.pk


def test_registered_movers_are_called_inside_the_merge(world, monkeypatch):
    monkeypatch.setitem(duplicates.MERGE_MOVERS, ObjectType.CONTACT, list(duplicates.MERGE_MOVERS[ObjectType.CONTACT]))
    monkeypatch.setitem(duplicates.MERGE_MOVERS, ObjectType.ACCOUNT, list(duplicates.MERGE_MOVERS[ObjectType.ACCOUNT]))
    calls = []

    def move_events(survivor_id: int, other_id: int) -> None:
        # A mover sees the other record already merged away.
        calls.append((survivor_id, other_id, Contact.all_objects.get(pk=other_id).merged_into_id))

    duplicates.register_merge_mover(ObjectType.CONTACT, move_events)
    duplicates.register_merge_mover(ObjectType.CONTACT, move_events)  # twice: still called once
    a = create(world, first_name="Ada")
    b = create(world, first_name="Ada")

    merge(world, a, b)

    assert calls == [(a.pk, b.pk, a.pk)]


def test_a_mover_that_refuses_undoes_the_whole_merge(world, monkeypatch):
    monkeypatch.setitem(duplicates.MERGE_MOVERS, ObjectType.CONTACT, list(duplicates.MERGE_MOVERS[ObjectType.CONTACT]))

    def refuse(survivor_id: int, other_id: int) -> None:
        raise Conflict("An open ticket blocks this merge.")

    duplicates.register_merge_mover(ObjectType.CONTACT, refuse)
    a = create(world, first_name="Ada", tags=["x"])
    b = create(world, first_name="Ada", tags=["y"])

    with pytest.raises(Conflict):
        merge(world, a, b)

    assert Contact.objects.filter(pk=b.pk).exists()
    assert tags_of(b) == ["y"]
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.MERGE).exists()


# --- Accounts ----------------------------------------------------------------------------------------


def create_account(world, **data) -> Account:
    return services.account_create(actor=world.admin, via=Via.PAGE, data=data)


def test_account_merge_moves_contacts_and_child_accounts(world):
    survivor = create_account(world, name="Acme Corp", domain="acme.com")
    other = create_account(world, name="ACME Inc", domain="acme.com", industry="Manufacturing")
    child = create_account(world, name="Acme Germany", parent_id=other.pk)
    employees = [ContactFactory(account=other) for _ in range(3)]
    deleted = ContactFactory(account=other, deleted_at=timezone.now())
    stays = ContactFactory(account=survivor)

    merged = account_merge(actor=world.admin, via=Via.PAGE, survivor_id=survivor.pk, other_id=other.pk, choices={})

    assert merged.industry == "Manufacturing"
    assert set(Contact.objects.filter(account=survivor).values_list("pk", flat=True)) == {
        stays.pk,
        *(e.pk for e in employees),
    }
    assert Contact.all_objects.get(pk=deleted.pk).account_id == survivor.pk
    assert Account.objects.get(pk=child.pk).parent_id == survivor.pk
    kept = Account.all_objects.get(pk=other.pk)
    assert (kept.merged_into_id, kept.name) == (survivor.pk, "ACME Inc")
    moved = AuditEntry.objects.filter(object_type="contact", note=f"account #{other.pk} merged into #{survivor.pk}")
    assert sorted(moved.values_list("object_id", flat=True)) == sorted(e.pk for e in employees)
    on_survivor = AuditEntry.objects.get(object_type="account", object_id=survivor.pk, action=AuditEntry.Action.MERGE)
    assert on_survivor.note == f"merged from account #{other.pk}"
    assert on_survivor.changes["contacts"] == [None, "3 moved here"]
    on_other = AuditEntry.objects.get(object_type="account", object_id=other.pk, action=AuditEntry.Action.MERGE)
    assert on_other.note == f"merged into #{survivor.pk}"


def test_account_merge_keeps_the_older_created_at_and_moves_stage_history(world):
    survivor = create_account(world, name="Acme", lifecycle_stage="lead")
    other = create_account(world, name="Acme", lifecycle_stage="customer")
    older = timezone.now() - dt.timedelta(days=30)
    Account.objects.filter(pk=other.pk).update(created_at=older)

    merged = account_merge(actor=world.admin, via=Via.PAGE, survivor_id=survivor.pk, other_id=other.pk)

    assert merged.created_at == older
    assert LifecycleChange.objects.filter(account_id=other.pk).count() == 0
    assert LifecycleChange.objects.filter(account_id=survivor.pk).count() == 2


def test_account_merge_never_makes_an_account_its_own_parent(world):
    other = create_account(world, name="Acme Holding")
    survivor = create_account(world, name="Acme", parent_id=other.pk)

    merged = account_merge(
        actor=world.admin, via=Via.PAGE, survivor_id=survivor.pk, other_id=other.pk, choices={"parent_id": "survivor"}
    )

    assert merged.parent_id is None


def test_account_merge_takes_the_external_id_of_the_other(world):
    survivor = create_account(world, name="Acme", external_id="")
    other = AccountFactory(name="Acme", external_id="SF-1")

    merged = account_merge(actor=world.admin, via=Via.PAGE, survivor_id=survivor.pk, other_id=other.pk)

    assert merged.external_id == "SF-1"


@pytest.mark.parametrize("role_user", ["rep", "agent", "partner"])
def test_roles_without_the_merge_capability_may_not_merge_accounts(world, role_user):
    a, b = AccountFactory(), AccountFactory()

    with pytest.raises(Forbidden):
        account_merge(actor=getattr(world, role_user), via=Via.PAGE, survivor_id=a.pk, other_id=b.pk)
