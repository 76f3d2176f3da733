"""Database helpers the bulk paths rely on, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import gc

import pytest
from django.db import IntegrityError, transaction

from rapport.contacts.models import Contact
from rapport.core.bulk import fewer_collections
from rapport.core.db import insert_objects, new_instance, update_objects
from tests.factories import ContactFactory


@pytest.mark.django_db
def test_any_of_matches_the_values_given_as_one_parameter_however_many():
    people = [ContactFactory(email=f"p{n}@example.org") for n in range(5)]
    wanted = ["p1@example.org", "p3@example.org", "nobody@example.org"] + [f"x{n}@example.org" for n in range(40_000)]

    found = Contact.objects.filter(email__any_of=wanted).order_by("email").values_list("email", flat=True)

    assert list(found) == ["p1@example.org", "p3@example.org"]
    assert set(Contact.objects.filter(pk__any_of=[people[0].pk, people[4].pk]).values_list("pk", flat=True)) == {
        people[0].pk,
        people[4].pk,
    }
    assert Contact.objects.filter(email__any_of=[]).count() == 0
    assert Contact.objects.exclude(email__any_of=["p0@example.org"]).count() == 4


@pytest.mark.django_db
def test_any_of_binds_values_so_quotes_and_brackets_are_plain_text():
    ContactFactory(email="o'brien@example.org", first_name='Pat "]) OR 1=1 --')

    assert Contact.objects.filter(first_name__any_of=['Pat "]) OR 1=1 --']).count() == 1
    assert Contact.objects.filter(email__any_of=["o'brien@example.org"]).count() == 1
    assert Contact.objects.filter(first_name__any_of=["') OR 1=1 --"]).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_unique_clash_in_a_bulk_write_raises_django_s_integrity_error_and_rolls_back():
    taken = ContactFactory(email="taken@example.org")
    other = ContactFactory(email="other@example.org")

    def person(email: str) -> Contact:
        return new_instance(
            Contact, email=email, first_name="New", created_at=taken.created_at, updated_at=taken.created_at
        )

    insert_objects([person("fine@example.org")])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_objects([person("new@example.org"), person("taken@example.org")])
    with pytest.raises(IntegrityError), transaction.atomic():
        other.email = taken.email
        update_objects([other], ["email"])

    emails = sorted(Contact.objects.values_list("email", flat=True))
    assert emails == ["fine@example.org", "other@example.org", "taken@example.org"]


def test_fewer_collections_raises_the_threshold_while_in_use_and_restores_it_after_the_last_user():
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        with fewer_collections(young=40_000):
            assert gc.get_threshold() == (40_000, 10, 20)
            with fewer_collections(young=90_000):  # a second job in the same process shares the setting
                assert gc.get_threshold() == (40_000, 10, 20)
            assert gc.get_threshold() == (40_000, 10, 20)
        assert gc.get_threshold() == (700, 10, 10)

        with pytest.raises(ZeroDivisionError), fewer_collections():
            1 / 0  # noqa: B018
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
