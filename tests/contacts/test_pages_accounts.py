"""The account pages: the list, the record page with its contacts and hierarchy, the forms and bulk actions."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from rapport.contacts import services
from rapport.contacts.models import Account, CustomField, LifecycleChange
from rapport.core.models import AuditEntry, Via
from tests.factories import AccountFactory, ContactFactory

LIST = reverse("contacts:account_list")
BULK = reverse("contacts:account_bulk")
CREATE = reverse("contacts:account_create")


def rows(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'<td class="truncate"[^>]*><a class="fw-medium" href="/accounts/\d+/">([^<]+)</a></td>', html)


def next_link(response) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def make_accounts(world, count: int) -> list[Account]:
    owners = [world.rep, world.teammate, world.other_rep, None]
    accounts = []
    for i in range(count):
        account = AccountFactory(
            name=f"Company {i:03d}",
            name_key=f"company {i:03d}",
            owner=owners[i % 4],
            industry="Software" if i % 2 else "Retail",
            size_band="11-50",
            partner_organisation=world.partner.partner_organisation if i % 5 == 0 else None,
            parent=accounts[0] if accounts and i % 7 == 0 else None,
        )
        ContactFactory(account=account, owner=world.rep)
        accounts.append(account)
    return accounts


def form_data(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "",
        "domain": "",
        "industry": "",
        "size_band": "",
        "annual_revenue": "",
        "currency": "EUR",
        "country": "",
        "region": "",
        "city": "",
        "owner_id": "",
        "partner_organisation_id": "",
        "parent_id": "",
        "lifecycle_stage": "lead",
        "external_id": "",
    }
    data.update(values)
    return data


# --- The list --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 30])
@pytest.mark.parametrize("who", ["admin", "rep", "partner"])
def test_account_list_runs_the_same_few_queries_whatever_the_number_of_rows(
    world, logged_in, count, who, django_assert_max_num_queries
):
    make_accounts(world, count)
    client = logged_in(getattr(world, who))

    with django_assert_max_num_queries(12):
        page = client.get(LIST, {"cols": "name,owner,partner,contacts,parent"})
    with django_assert_max_num_queries(12):
        fragment = client.get(LIST, {"industry": "software"}, headers={"HX-Request": "true"})

    assert page.status_code == fragment.status_code == 200


def test_account_list_shows_contact_counts_and_partner(world, logged_in):
    acme = AccountFactory(name="Acme", name_key="acme", partner_organisation=world.partner.partner_organisation)
    ContactFactory(account=acme)
    ContactFactory(account=acme)
    ContactFactory(account=acme, deleted_at="2026-01-01T00:00:00Z")

    html = logged_in(world.admin).get(LIST, {"cols": "name,partner,contacts"}).content.decode()

    assert re.search(rf'href="/contacts/\?account={acme.pk}">2</a>', html)
    assert "<td>Acme Resellers</td>" in html


def test_partner_sees_only_their_accounts(world, logged_in):
    AccountFactory(name="Shared", name_key="shared", partner_organisation=world.partner.partner_organisation)
    AccountFactory(name="Other", name_key="other", partner_organisation=world.other_partner.partner_organisation)
    AccountFactory(name="Internal", name_key="internal")

    assert rows(logged_in(world.partner).get(LIST)) == ["Shared"]


def test_industry_and_size_filters(world, logged_in):
    AccountFactory(name="A", name_key="a", industry="Software", size_band="11-50")
    AccountFactory(name="B", name_key="b", industry="Software", size_band="1-10")
    AccountFactory(name="C", name_key="c", industry="Retail", size_band="11-50")
    client = logged_in(world.admin)

    assert rows(client.get(LIST, {"industry": "software"})) == ["A", "B"]
    assert rows(client.get(LIST, {"industry": "software", "size_band": "11-50"})) == ["A"]


def test_search_by_domain_prefix(world, logged_in):
    AccountFactory(name="Acme", name_key="acme", domain="acme.example")
    AccountFactory(name="Globex", name_key="globex", domain="globex.example")

    assert rows(logged_in(world.admin).get(LIST, {"q": "glob"})) == ["Globex"]


def test_account_pages_follow_one_another_without_overlap(world, logged_in):
    make_accounts(world, 75)
    client = logged_in(world.admin)

    first = client.get(LIST, {"ordering": "-name"})
    second = client.get(next_link(first))

    expected = [f"Company {i:03d}" for i in range(74, -1, -1)]
    assert rows(first) == expected[:50]
    assert rows(second) == expected[50:]
    assert next_link(second) is None


def test_account_empty_state(world, logged_in):
    html = logged_in(world.admin).get(LIST).content.decode()

    assert "No accounts yet" in html and reverse("contacts:account_create") in html


# --- Bulk actions ----------------------------------------------------------------------------------------


def test_bulk_assign_owner_and_stage_on_accounts(world, logged_in):
    a, b = AccountFactory(lifecycle_stage="lead"), AccountFactory(lifecycle_stage="lead")
    client = logged_in(world.manager)

    client.post(BULK, {"action": "assign_owner", "owner_id": world.rep.pk, "ids": [a.pk]})
    response = client.post(BULK, {"action": "set_stage", "stage": "customer", "ids": [a.pk, b.pk]}, follow=True)

    assert dict(Account.objects.values_list("pk", "owner_id")) == {a.pk: world.rep.pk, b.pk: None}
    assert dict(Account.objects.values_list("pk", "lifecycle_stage")) == {a.pk: "customer", b.pk: "customer"}
    assert LifecycleChange.objects.filter(account__in=[a, b], to_stage="customer").count() == 2
    assert "Moved 2 accounts to Customer." in response.content.decode()


def test_bulk_on_accounts_skips_the_ones_the_user_cannot_see(world, logged_in):
    mine = AccountFactory(owner=world.rep, lifecycle_stage="lead")
    hidden = AccountFactory(owner=world.other_rep, lifecycle_stage="lead")

    logged_in(world.rep).post(BULK, {"action": "set_stage", "stage": "sql", "ids": [mine.pk, hidden.pk]})
    logged_in(world.rep).post(BULK, {"action": "assign_owner", "owner_id": world.rep.pk, "ids": [hidden.pk]})

    assert Account.objects.get(pk=mine.pk).lifecycle_stage == "sql"
    assert (Account.objects.get(pk=hidden.pk).lifecycle_stage, Account.objects.get(pk=hidden.pk).owner_id) == (
        "lead",
        world.other_rep.pk,
    )


def test_bulk_delete_accounts_keeps_their_contacts(world, logged_in):
    account = AccountFactory()
    contact = ContactFactory(account=account)

    logged_in(world.admin).post(BULK, {"action": "delete", "ids": [account.pk]})

    assert not Account.objects.filter(pk=account.pk).exists()
    assert Account.all_objects.get(pk=account.pk).deleted_at is not None
    assert contact.__class__.objects.filter(pk=contact.pk).exists()


def test_partner_may_not_bulk_edit_accounts(world, logged_in):
    account = AccountFactory(partner_organisation=world.partner.partner_organisation)

    response = logged_in(world.partner).post(BULK, {"action": "set_stage", "stage": "sql", "ids": [account.pk]})

    assert response.status_code == 403
    assert Account.objects.get(pk=account.pk).lifecycle_stage == "lead"


# --- The record page -------------------------------------------------------------------------------------


def test_account_page_shows_properties_contacts_parent_and_children(world, logged_in):
    group = AccountFactory(name="Umbrella Group")
    account = services.account_create(
        actor=world.admin,
        via=Via.PAGE,
        data={
            "name": "Umbrella Labs",
            "domain": "umbrella.example",
            "industry": "Biotech",
            "country": "DE",
            "annual_revenue": "1250000",
            "currency": "EUR",
            "parent_id": group.pk,
            "size_band": "51-200",
        },
        from_text=True,
    )
    child = AccountFactory(name="Umbrella Research", parent=account)
    ContactFactory(first_name="Alice", last_name="Abernathy", account=account)

    html = logged_in(world.admin).get(account.get_absolute_url()).content.decode()

    assert '<h1 class="h4 mb-0">Umbrella Labs</h1>' in html
    assert "1,250,000 EUR" in html and "51–200 employees" in html and "Germany" in html
    assert f'<a href="{group.get_absolute_url()}">Umbrella Group</a>' in html
    children = html[html.index('data-testid="children"') :]
    assert child.name in children
    assert "Alice Abernathy" in html[html.index('data-testid="account-contacts"') :]
    assert "Annual revenue</th>" in html  # the history tab shows the created fields


def test_account_contacts_are_paged_with_an_htmx_fragment(world, logged_in, django_assert_max_num_queries):
    account = AccountFactory()
    for i in range(30):
        ContactFactory(
            account=account, last_name=f"N{i:02d}", last_name_key=f"n{i:02d}", first_name="", first_name_key=""
        )
    client = logged_in(world.admin)

    page = client.get(account.get_absolute_url()).content.decode()
    link = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    with django_assert_max_num_queries(8):
        fragment = client.get(link, headers={"HX-Request": "true"}).content.decode()

    assert fragment.lstrip().startswith('<div id="account-contacts">')
    names = re.findall(r'<a class="fw-medium" href="/contacts/\d+/">([^<]+)</a>', fragment)
    assert names == [f"N{i:02d}" for i in range(25, 30)]


@pytest.mark.parametrize("who", ["other_rep", "partner"])
def test_a_hidden_account_is_not_found(world, logged_in, who):
    account = AccountFactory(owner=world.rep)
    client = logged_in(getattr(world, who))

    for url in (account.get_absolute_url(), reverse("contacts:account_edit", args=[account.pk])):
        assert client.get(url).status_code == 404


# --- Forms -----------------------------------------------------------------------------------------------


def test_create_account_with_custom_field_and_partner(world, logged_in):
    CustomField.objects.create(object_type="account", key="tier", label="Tier", field_type="choice", choices=["A", "B"])

    response = logged_in(world.admin).post(
        CREATE,
        form_data(
            name="Initech",
            domain="https://www.initech.example/about",
            industry="Software",
            annual_revenue="1000000.50",
            country="US",
            owner_id=world.rep.pk,
            partner_organisation_id=world.partner.partner_organisation_id,
            cf_tier="b",
        ),
    )

    account = Account.objects.get()
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    assert (account.name, account.domain, account.country, account.owner_id) == (
        "Initech",
        "initech.example",
        "US",
        world.rep.pk,
    )
    assert str(account.annual_revenue) == "1000000.50"
    assert account.partner_organisation_id == world.partner.partner_organisation_id
    assert account.custom == {"tier": "B"}
    assert AuditEntry.objects.filter(object_type="account", object_id=account.pk, action="create").count() == 1


def test_account_form_errors_are_shown_next_to_fields(world, logged_in):
    response = logged_in(world.admin).post(CREATE, form_data(name="", annual_revenue="lots", currency="E1"))

    html = response.content.decode()
    assert response.status_code == 422
    assert Account.objects.count() == 0
    assert re.search(r'id="err-name"[^>]*><div class="invalid-feedback d-block">An account needs a name.', html)
    assert re.search(
        r'id="err-annual_revenue"[^>]*><div class="invalid-feedback d-block">&#x27;lots&#x27; is not a number.', html
    )
    assert re.search(
        r'id="err-currency"[^>]*><div class="invalid-feedback d-block">Currency must be a three-letter', html
    )


def test_an_account_cannot_become_its_own_parent(world, logged_in):
    account = AccountFactory(name="Loop")

    response = logged_in(world.admin).post(
        reverse("contacts:account_edit", args=[account.pk]),
        form_data(name="Loop", parent_id=account.pk, version=account.version),
    )

    assert response.status_code == 422
    assert "can&#x27;t be its own parent" in response.content.decode()
    assert Account.objects.get(pk=account.pk).parent_id is None


def test_concurrent_account_edit_is_refused_with_the_form_kept(world, logged_in):
    account = AccountFactory(name="Before")
    services.account_update(actor=world.marketer, via=Via.API, account_id=account.pk, data={"industry": "Retail"})

    response = logged_in(world.admin).post(
        reverse("contacts:account_edit", args=[account.pk]), form_data(name="Mine", version=1)
    )

    assert response.status_code == 409
    assert Account.objects.get(pk=account.pk).name == "Before"
    html = response.content.decode()
    assert "Someone else changed this account while you were editing it." in html and 'value="Mine"' in html


def test_edit_account_saves_and_audits(world, logged_in):
    account = AccountFactory(name="Old name")

    response = logged_in(world.admin).post(
        reverse("contacts:account_edit", args=[account.pk]),
        form_data(name="New name", industry="Retail", version=account.version),
    )

    account.refresh_from_db()
    assert response.status_code == 302
    assert (account.name, account.industry, account.currency, account.version) == ("New name", "Retail", "EUR", 2)
    entry = AuditEntry.objects.get(object_type="account", object_id=account.pk, action="update")
    assert entry.changes["name"] == ["Old name", "New name"] and entry.actor == world.admin


def test_delete_account_asks_then_hides_it(world, logged_in):
    account = AccountFactory(name="Gone Ltd")
    client = logged_in(world.admin)
    url = reverse("contacts:account_delete", args=[account.pk])

    assert "Delete Gone Ltd?" in client.get(url).content.decode()
    response = client.post(url)

    assert response.status_code == 302 and response["Location"] == LIST
    assert not Account.objects.filter(pk=account.pk).exists()


def test_agents_may_not_delete_accounts(world, logged_in):
    account = AccountFactory()

    assert logged_in(world.agent).post(reverse("contacts:account_delete", args=[account.pk])).status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()
