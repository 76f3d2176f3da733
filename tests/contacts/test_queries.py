"""List queries: searches answered branch by branch must page exactly like one ordered query."""

from __future__ import annotations

import pytest

from rapport.contacts import queries
from rapport.contacts.models import Contact
from tests.factories import AccountFactory, ContactFactory


@pytest.fixture
def people(world):
    """Contacts matching 'ann' through different fields, with names that interleave in sort order."""
    ann_co = AccountFactory(name="Annex Ltd", name_key="annex ltd")
    return [
        ContactFactory(first_name="Ann", last_name="Zed", email="z1@example.com"),
        ContactFactory(first_name="Bob", last_name="Annan", email="b@example.com"),
        ContactFactory(first_name="Cy", last_name="Adams", email="anna.c@example.com"),
        ContactFactory(first_name="Dee", last_name="Moss", email="d@example.com", account=ann_co),
        ContactFactory(first_name="Anne", last_name="Adams", email="a2@example.com"),
        ContactFactory(first_name="Eve", last_name="Moss", email="e@example.com"),  # no match
        ContactFactory(first_name="Annika", last_name="Moss", email="annika@example.com"),  # two branches
    ]


def expected(q: str, ordering: str) -> list[int]:
    order = queries.CONTACT_ORDERINGS[ordering]
    return list(Contact.objects.filter(queries.search_contacts_q(q)).order_by(*order).values_list("pk", flat=True))


@pytest.mark.parametrize("ordering", ["name", "-name"])
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_search_pages_walk_every_match_once_in_order(world, people, ordering, limit):
    filters = queries.ListFilters(q="ann", ordering=ordering)
    seen, cursor = [], None
    while True:
        rows, cursor = queries.contact_page(world.admin, filters, cursor=cursor, limit=limit)
        seen.extend(row.pk for row in rows)
        if cursor is None:
            break
    assert seen == expected("ann", ordering)
    names = {p.pk: p.first_name for p in people}
    assert sorted(names[pk] for pk in seen) == ["Ann", "Anne", "Annika", "Bob", "Cy", "Dee"]


def test_every_word_must_match(world, people):
    rows, _ = queries.contact_page(world.admin, queries.ListFilters(q="ann adams"), limit=50)
    assert [r.first_name for r in rows] == ["Anne", "Cy"]


def test_search_count_and_cap(world, people):
    filters = queries.ListFilters(q="ann")
    assert queries.contacts_count(world.admin, filters) == (6, False)
    # Up to the search cap, counting goes branch by branch and stops at the cap.
    assert queries.contacts_count(world.admin, filters, cap=4) == (4, True)
    assert queries.contacts_count(world.admin, filters, cap=6) == (6, False)


def test_search_respects_visibility(world, people):
    mine = ContactFactory(first_name="Annabel", last_name="Rep", owner=world.rep)
    rows, _ = queries.contact_page(world.rep, queries.ListFilters(q="ann"), limit=50)
    assert [r.pk for r in rows] == [mine.pk]
    assert queries.contacts_count(world.rep, queries.ListFilters(q="ann")) == (1, False)


def test_a_vague_company_word_does_not_pull_in_every_contact(world, monkeypatch):
    monkeypatch.setattr(queries, "COMPANY_MATCH_LIMIT", 2)
    for n in range(3):
        ContactFactory(
            first_name="X", last_name=f"Y{n}", account=AccountFactory(name=f"Acme {n}", name_key=f"acme {n}")
        )
    named = ContactFactory(first_name="Acme", last_name="Person")
    rows, _ = queries.contact_page(world.admin, queries.ListFilters(q="acme"), limit=50)
    assert [r.pk for r in rows] == [named.pk]


@pytest.mark.parametrize("members", [2, 5])
def test_tag_filter_gives_the_same_page_whichever_way_it_is_answered(world, monkeypatch, members):
    """A common tag is probed row by row in list order, a rare one fetched and sorted: same rows either way."""
    monkeypatch.setattr(queries, "TAG_WALK_THRESHOLD", 3)
    tagged = [ContactFactory(last_name=f"T{n}") for n in range(members)]
    ContactFactory(last_name="Untagged")
    for contact in tagged:
        contact.tags.create(name="VIP", key="vip") if contact is tagged[0] else contact.tags.add(tagged[0].tags.get())
    rows, _ = queries.contact_page(world.admin, queries.ListFilters(tag=["VIP"]), limit=50)
    assert [r.pk for r in rows] == [c.pk for c in tagged]
    assert queries.contacts_count(world.admin, queries.ListFilters(tag=["vip"])) == (members, False)
