"""Row-level access: who sees which contacts and accounts, enforced by ``visible_to``."""

from __future__ import annotations

import pytest

from rapport.contacts.models import Account, Contact
from tests.factories import AccountFactory, ContactFactory


@pytest.fixture
def records(world):
    """Records owned by the rep, the rep's teammate, a rep of another team, unowned in and out of DACH,
    and an account shared with the rep's partner organisation."""
    shared = AccountFactory(name="Shared GmbH", partner_organisation=world.partner.partner_organisation)
    other_shared = AccountFactory(name="Elsewhere Ltd", partner_organisation=world.other_partner.partner_organisation)
    rep_account = AccountFactory(name="Rep Corp", owner=world.rep)
    dach = world.rep.territories.get()
    return {
        "own": ContactFactory(owner=world.rep),
        "teammate": ContactFactory(owner=world.teammate),
        "other_team": ContactFactory(owner=world.other_rep),
        "unowned_dach": ContactFactory(owner=None, country="DE", territory=dach),
        "unowned_us": ContactFactory(owner=None, country="US"),
        "in_rep_account": ContactFactory(owner=world.other_rep, account=rep_account),
        "partner_contact": ContactFactory(owner=world.other_rep, account=shared),
        "other_partner_contact": ContactFactory(owner=None, account=other_shared),
        "shared": shared,
        "other_shared": other_shared,
        "rep_account": rep_account,
    }


def names(queryset, records):
    ids = set(queryset.values_list("pk", flat=True))
    return {name for name, record in records.items() if isinstance(record, Contact) and record.pk in ids}


@pytest.mark.parametrize("role_user", ["admin", "marketer", "manager", "agent"])
def test_roles_that_see_everything_see_every_contact(world, records, role_user):
    user = getattr(world, role_user)
    assert Contact.objects.visible_to(user).count() == 8


def test_rep_sees_own_team_and_unowned_in_territory_and_contacts_of_owned_accounts(world, records):
    assert names(Contact.objects.visible_to(world.rep), records) == {
        "own",
        "teammate",
        "unowned_dach",
        "in_rep_account",
    }


def test_rep_of_another_team_sees_only_their_own(world, records):
    assert names(Contact.objects.visible_to(world.other_rep), records) == {
        "other_team",
        "in_rep_account",
        "partner_contact",
    }


def test_partner_sees_only_contacts_of_accounts_shared_with_their_organisation(world, records):
    assert names(Contact.objects.visible_to(world.partner), records) == {"partner_contact"}
    assert list(Account.objects.visible_to(world.partner)) == [records["shared"]]


def test_rep_sees_owned_and_team_accounts_only(world, records):
    assert set(Account.objects.visible_to(world.rep)) == {records["rep_account"]}


def test_deactivated_user_sees_nothing(world, records):
    world.admin.is_active = False
    world.admin.save()
    world.admin.refresh_from_db()
    assert Contact.objects.visible_to(world.admin).count() == 0


def test_deleted_contacts_are_hidden_from_everyone(world, records):
    from django.utils import timezone

    Contact.objects.filter(pk=records["own"].pk).update(deleted_at=timezone.now())
    assert Contact.objects.visible_to(world.admin).count() == 7
    assert Contact.all_objects.count() == 8
