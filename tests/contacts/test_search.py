"""Global search from the header: the drop-down (htmx) and the results page, limited to what the user may see."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.factories import AccountFactory, ContactFactory

SEARCH = reverse("contacts:search")


def dropdown(client, q: str) -> tuple[list[str], list[str]]:
    """(contact names, account names) in the header's drop-down for ``q``."""
    html = client.get(SEARCH, {"q": q}, headers={"HX-Request": "true"}).content.decode()
    html = re.sub(r"</?mark[^>]*>", "", html)  # the matched part of each name is highlighted
    contacts = re.findall(
        r'href="/contacts/\d+/">\s*<i class="bi bi-person[^>]*></i><span class="fw-medium">([^<]+)</span>', html
    )
    accounts = re.findall(
        r'href="/accounts/\d+/">\s*<i class="bi bi-building[^>]*></i><span class="fw-medium">([^<]+)</span>', html
    )
    return contacts, accounts


@pytest.fixture
def people(world):
    acme = AccountFactory(name="Acme Corporation", name_key="acme corporation", domain="acme.example")
    globex = AccountFactory(name="Globex", name_key="globex", domain="globex.example", owner=world.rep)
    return {
        "ada": ContactFactory(
            first_name="Ada",
            last_name="Lovelace",
            first_name_key="ada",
            last_name_key="lovelace",
            email="ada@acme.example",
            phone="+442071234567",
            account=acme,
        ),
        "alan": ContactFactory(
            first_name="Alan",
            last_name="Turing",
            first_name_key="alan",
            last_name_key="turing",
            email="alan.turing@globex.example",
            phone="+4930123456",
            account=globex,
        ),
        "grace": ContactFactory(
            first_name="Grace",
            last_name="Hopper",
            first_name_key="grace",
            last_name_key="hopper",
            email="grace@navy.example",
            owner=world.other_rep,
        ),
        "acme": acme,
        "globex": globex,
    }


def test_search_by_email_prefix(world, logged_in, people):
    assert dropdown(logged_in(world.admin), "alan.tu") == (["Alan Turing"], [])


def test_search_by_name_prefix(world, logged_in, people):
    assert dropdown(logged_in(world.admin), "lovel") == (["Ada Lovelace"], [])
    assert dropdown(logged_in(world.admin), "gra hop") == (["Grace Hopper"], [])


def test_search_by_company_finds_the_account_and_its_contacts(world, logged_in, people):
    assert dropdown(logged_in(world.admin), "acme") == (["Ada Lovelace"], ["Acme Corporation"])


def test_search_by_phone_in_any_format(world, logged_in, people):
    client = logged_in(world.admin)

    assert dropdown(client, "+44 20 7123 4567") == (["Ada Lovelace"], [])
    assert dropdown(client, "+49 30 12") == (["Alan Turing"], [])


def test_search_by_domain(world, logged_in, people):
    assert dropdown(logged_in(world.admin), "globex.ex") == (["Alan Turing"], ["Globex"])


def test_search_shows_only_what_the_user_may_see(world, logged_in, people, client):
    rep = logged_in(world.rep)
    assert dropdown(rep, "grace") == ([], [])
    assert dropdown(rep, "acme") == ([], [])
    assert dropdown(rep, "alan") == (["Alan Turing"], [])
    client.logout()
    assert dropdown(logged_in(world.partner), "a") == ([], [])  # too short anyway
    assert dropdown(logged_in(world.partner), "ada") == ([], [])


def test_partner_search_finds_only_shared_records(world, logged_in, people):
    shared = AccountFactory(
        name="Acme Partnered", name_key="acme partnered", partner_organisation=world.partner.partner_organisation
    )
    ContactFactory(first_name="Pat", last_name="Shared", first_name_key="pat", last_name_key="shared", account=shared)

    assert dropdown(logged_in(world.partner), "acme") == (["Pat Shared"], ["Acme Partnered"])


def test_dropdown_says_when_nothing_matches_and_links_to_the_full_page(world, logged_in, people):
    html = logged_in(world.admin).get(SEARCH, {"q": "zzzz"}, headers={"HX-Request": "true"}).content.decode()

    assert "<html" not in html
    assert "Nothing matches “zzzz”" in html
    assert 'href="/search/?q=zzzz"' in html


def test_one_character_gives_no_dropdown(world, logged_in, people):
    html = logged_in(world.admin).get(SEARCH, {"q": "a"}, headers={"HX-Request": "true"}).content.decode()

    assert html.strip() == ""


def test_submitting_the_search_shows_a_results_page(world, logged_in, people):
    response = logged_in(world.admin).get(SEARCH, {"q": "acme"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    contacts = html[html.index('data-testid="search-contacts"') :]
    accounts = html[html.index('data-testid="search-accounts"') :]
    assert re.findall(r'<a class="fw-medium" href="/contacts/\d+/">([^<]+)</a>', contacts) == ["Ada Lovelace"]
    assert re.findall(r'<a class="fw-medium" href="/accounts/\d+/">([^<]+)</a>', accounts) == ["Acme Corporation"]
    assert "+44 20 7123 4567" in contacts


@pytest.mark.parametrize("count", [3, 30])
def test_search_runs_a_fixed_number_of_queries(world, logged_in, count, django_assert_max_num_queries):
    account = AccountFactory(name="Umbrella", name_key="umbrella", owner=world.rep)
    for i in range(count):
        ContactFactory(first_name=f"Um{i}", first_name_key=f"um{i}", account=account)
    client = logged_in(world.rep)

    with django_assert_max_num_queries(12):
        client.get(SEARCH, {"q": "um"}, headers={"HX-Request": "true"})
    with django_assert_max_num_queries(12):
        client.get(SEARCH, {"q": "um"})


def test_search_needs_a_login(client):
    response = client.get(SEARCH, {"q": "ada"})

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_drop_down_highlights_the_matched_start_of_a_word_and_escapes_everything(world, logged_in):
    ContactFactory(
        first_name="<b>Ann</b>",
        last_name="O'Smith & Sons",
        first_name_key="<b>ann</b>",
        last_name_key="o'smith & sons",
        email="ann@example.org",
    )
    AccountFactory(name="Smithers <script>", name_key="smithers <script>", domain="smithers.example")

    html = logged_in(world.admin).get(SEARCH, {"q": "o'sm"}, headers={"HX-Request": "true"}).content.decode()
    accounts = logged_in(world.admin).get(SEARCH, {"q": "smi"}, headers={"HX-Request": "true"}).content.decode()

    assert '&lt;b&gt;Ann&lt;/b&gt; <mark class="p-0">O&#x27;Sm</mark>ith &amp; Sons' in html
    assert "<b>" not in html
    assert '<span class="fw-medium"><mark class="p-0">Smi</mark>thers &lt;script&gt;</span>' in accounts
    assert '<mark class="p-0">smi</mark>thers.example' in accounts
