"""The contact pages as a user works them: the list (filters, sort, pages, columns, saved views, bulk
actions), the record page, and the create, edit and delete forms with their inline errors."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from rapport.contacts import services
from rapport.contacts.models import (
    ConsentChange,
    Contact,
    ContactTag,
    CustomField,
    LifecycleChange,
    SavedView,
    Tag,
)
from rapport.core.models import AuditEntry, Via
from tests.factories import AccountFactory, ContactFactory

LIST = reverse("contacts:contact_list")
BULK = reverse("contacts:contact_bulk")
CREATE = reverse("contacts:contact_create")


def rows(response) -> list[str]:
    """The record names in a list response, in order (the links in the name column)."""
    html = response.content.decode()
    return re.findall(r'<td class="truncate"[^>]*><a class="fw-medium" href="/contacts/\d+/">([^<]+)</a></td>', html)


def next_link(response) -> str | None:
    found = re.search(r'rel="next" href="([^"]+)"', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def previous_link(response) -> str | None:
    found = re.search(r'rel="prev" href="([^"]+)"', response.content.decode())
    return found.group(1).replace("&amp;", "&") if found else None


def make_contacts(world, count: int) -> list[Contact]:
    """``count`` contacts with owners, accounts and two tags each, spread over the rep's team and others."""
    owners = [world.rep, world.teammate, world.other_rep, None]
    accounts = [AccountFactory(name=f"Account {i}", owner=world.rep) for i in range(3)]
    vip, webinar = Tag.objects.create(name="VIP", key="vip"), Tag.objects.create(name="Webinar", key="webinar")
    contacts = []
    for i in range(count):
        contact = ContactFactory(
            first_name=f"Person{i:03d}",
            first_name_key=f"person{i:03d}",
            last_name=f"Zed{i:03d}",
            last_name_key=f"zed{i:03d}",
            email=f"person{i:03d}@example.org",
            owner=owners[i % 4],
            account=accounts[i % 3],
            country="DE" if i % 2 else "FR",
            lifecycle_stage="mql" if i % 3 == 0 else "lead",
        )
        ContactTag.objects.create(contact=contact, tag=vip)
        ContactTag.objects.create(contact=contact, tag=webinar)
        contacts.append(contact)
    return contacts


# --- The list --------------------------------------------------------------------------------------------


def test_list_shows_visible_contacts_sorted_by_last_name(world, logged_in):
    ContactFactory(first_name="Bea", last_name="Brown", last_name_key="brown", first_name_key="bea")
    ContactFactory(first_name="Al", last_name="Adams", last_name_key="adams", first_name_key="al")

    response = logged_in(world.admin).get(LIST)

    assert response.status_code == 200
    assert rows(response) == ["Al Adams", "Bea Brown"]
    assert re.search(r'data-testid="list-count"><span class="num">2</span> contacts', response.content.decode())


@pytest.mark.parametrize("count", [3, 30])
@pytest.mark.parametrize("who", ["admin", "rep"])
def test_list_page_runs_the_same_few_queries_whatever_the_number_of_rows(
    world, logged_in, count, who, django_assert_max_num_queries
):
    make_contacts(world, count)
    CustomField.objects.create(object_type="contact", key="shoe_size", label="Shoe size", field_type="number")
    client = logged_in(getattr(world, who))

    with django_assert_max_num_queries(12):
        response = client.get(LIST, {"cols": "name,email,company,owner,tags,cf.shoe_size"})

    assert response.status_code == 200
    assert len(rows(response)) == count  # every contact sits at an account the rep owns


@pytest.mark.parametrize("count", [3, 30])
def test_list_fragment_runs_the_same_few_queries_whatever_the_number_of_rows(
    world, logged_in, count, django_assert_max_num_queries
):
    make_contacts(world, count)
    client = logged_in(world.rep)

    with django_assert_max_num_queries(13):
        response = client.get(LIST, {"stage": "lead", "tag": "vip"}, headers={"HX-Request": "true"})

    assert response.status_code == 200


def test_htmx_request_gets_only_the_results_fragment(world, logged_in):
    make_contacts(world, 3)

    response = logged_in(world.admin).get(LIST, {"stage": "mql"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="list-results"')
    assert rows(response) == ["Person000 Zed000"]
    assert "HX-Request" in response["Vary"]


def test_rep_sees_only_own_team_and_owned_account_contacts(world, logged_in):
    mine = ContactFactory(first_name="Mine", last_name="A", last_name_key="a", owner=world.rep)
    ContactFactory(first_name="Theirs", last_name="B", last_name_key="b", owner=world.other_rep)

    response = logged_in(world.rep).get(LIST)

    assert rows(response) == [mine.full_name]


def test_partner_sees_only_contacts_of_accounts_shared_with_them(world, logged_in):
    shared = AccountFactory(partner_organisation=world.partner.partner_organisation)
    ContactFactory(first_name="Shared", last_name="Person", last_name_key="person", account=shared)
    ContactFactory(first_name="Other", last_name="Person", last_name_key="person2", owner=world.rep)

    response = logged_in(world.partner).get(LIST)

    assert rows(response) == ["Shared Person"]
    assert 'id="filter-owner"' not in response.content.decode()  # partners don't see internal users


def test_filters_narrow_the_list_and_show_removable_chips(world, logged_in):
    make_contacts(world, 12)

    response = logged_in(world.admin).get(LIST, {"stage": "mql", "country": "DE"})

    # mql: i % 3 == 0; DE: odd i → 3 and 9
    assert rows(response) == ["Person003 Zed003", "Person009 Zed009"]
    html = response.content.decode()
    chips = re.findall(
        r'<span class="chip" data-testid="chip">([^<]+)<strong class="fw-semibold">([^<]+)</strong><a href="([^"]+)"',
        html,
    )
    assert [(label.strip(), value) for label, value, _ in chips] == [
        ("Stage:", "Marketing qualified lead"),
        ("Country:", "Germany"),
    ]
    remove_stage = parse_qs(urlsplit(chips[0][2].replace("&amp;", "&")).query)
    assert remove_stage == {"country": ["DE"]}


def test_removing_one_of_several_values_keeps_the_others(world, logged_in):
    response = logged_in(world.admin).get(LIST, {"stage": ["mql", "sql"]})

    html = response.content.decode()
    link = re.search(
        r'Stage: <strong class="fw-semibold">Marketing qualified lead</strong><a href="([^"]+)"', html
    ).group(1)
    assert parse_qs(urlsplit(link.replace("&amp;", "&")).query) == {"stage": ["sql"]}


def test_owner_filter_understands_me_and_none(world, logged_in):
    ContactFactory(first_name="Mine", last_name="A", last_name_key="a", owner=world.manager)
    ContactFactory(first_name="Nobodys", last_name="B", last_name_key="b", owner=None)
    client = logged_in(world.manager)

    assert rows(client.get(LIST, {"owner": "me"})) == ["Mine A"]
    assert rows(client.get(LIST, {"owner": "none"})) == ["Nobodys B"]


def test_tag_seniority_consent_and_custom_field_filters(world, logged_in):
    CustomField.objects.create(
        object_type="contact", key="tier", label="Tier", field_type="choice", choices=["gold", "silver"]
    )
    gold = ContactFactory(
        first_name="Gold",
        last_name="A",
        last_name_key="a",
        custom={"tier": "gold"},
        seniority="vp",
        consent_email="granted",
    )
    ContactFactory(first_name="Silver", last_name="B", last_name_key="b", custom={"tier": "silver"}, seniority="vp")
    ContactTag.objects.create(contact=gold, tag=Tag.objects.create(name="Event", key="event"))
    client = logged_in(world.admin)

    assert rows(client.get(LIST, {"cf.tier": "gold"})) == ["Gold A"]
    assert rows(client.get(LIST, {"tag": "event"})) == ["Gold A"]
    assert rows(client.get(LIST, {"seniority": "vp", "consent_email": "granted"})) == ["Gold A"]
    assert rows(client.get(LIST, {"seniority": "vp"})) == ["Gold A", "Silver B"]


def test_search_box_filters_by_email_prefix(world, logged_in):
    make_contacts(world, 12)

    response = logged_in(world.admin).get(LIST, {"q": "person01"})

    assert rows(response) == ["Person010 Zed010", "Person011 Zed011"]


def test_an_invalid_filter_explains_itself_instead_of_failing(world, logged_in):
    response = logged_in(world.admin).get(LIST, {"stage": "hot", "owner": "bob"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "&#x27;hot&#x27; is not a lifecycle stage." in html
    assert "must be a user id, &#x27;me&#x27; or &#x27;none&#x27;." in html
    assert "Clear filters" in html


def test_a_tampered_page_link_starts_again_from_the_top(world, logged_in):
    make_contacts(world, 3)

    response = logged_in(world.admin).get(LIST, {"after": "not-a-cursor"})

    assert response.status_code == 200
    assert rows(response)[0] == "Person000 Zed000"
    assert "This page link is out of date" in response.content.decode()


def test_sorting_by_email_descending(world, logged_in):
    make_contacts(world, 4)

    response = logged_in(world.admin).get(LIST, {"ordering": "-email"})

    assert rows(response) == ["Person003 Zed003", "Person002 Zed002", "Person001 Zed001", "Person000 Zed000"]
    assert 'aria-sort="descending"' in response.content.decode()


def test_next_and_previous_pages_have_the_right_rows_without_overlap(world, logged_in):
    make_contacts(world, 120)
    client = logged_in(world.admin)

    first = client.get(LIST)
    second = client.get(next_link(first))
    third = client.get(next_link(second))
    back = client.get(previous_link(third))

    expected = [f"Person{i:03d} Zed{i:03d}" for i in range(120)]
    assert rows(first) == expected[:50]
    assert rows(second) == expected[50:100]
    assert rows(third) == expected[100:]
    assert next_link(third) is None
    assert previous_link(first) is None
    assert rows(back) == expected[50:100]
    assert "page=" not in next_link(first) and "offset" not in next_link(first)


def test_paging_keeps_the_sort_order_and_filters(world, logged_in):
    make_contacts(world, 120)
    client = logged_in(world.admin)

    first = client.get(LIST, {"ordering": "-email", "country": "FR"})
    second = client.get(next_link(first))

    expected = [f"Person{i:03d} Zed{i:03d}" for i in range(119, -1, -1) if i % 2 == 0]
    assert rows(first) + rows(second) == expected


def test_count_says_plus_when_capped_and_counts_further_when_asked(world, logged_in, monkeypatch):
    from rapport.contacts.views import records

    monkeypatch.setattr(records, "PAGE_COUNT_CAP", 5)
    make_contacts(world, 7)
    client = logged_in(world.admin)

    html = client.get(LIST).content.decode()
    assert '<span class="num">5+</span> contacts' in html
    assert 'data-testid="count-all"' in html

    html = client.get(LIST, {"count": "all"}).content.decode()
    assert '<span class="num">7</span> contacts' in html
    assert 'data-testid="count-all"' not in html


def test_search_count_says_plus_when_capped(world, logged_in, monkeypatch):
    from rapport.contacts import queries

    monkeypatch.setattr(queries, "SEARCH_COUNT_CAP", 3)
    from rapport.contacts.views import records

    monkeypatch.setattr(records, "PAGE_COUNT_CAP", 3)
    for n in range(5):
        ContactFactory(first_name=f"Anna{n}", last_name="Zed")

    response = logged_in(world.admin).get(LIST, {"q": "anna"})

    assert '<span class="num">3+</span> contacts' in response.content.decode()


def test_columns_come_from_the_url(world, logged_in):
    ContactFactory(phone="+4930123456")

    response = logged_in(world.admin).get(LIST, {"cols": "name,phone"})

    html = response.content.decode()
    headers = re.findall(r"<th scope=\"col\"[^>]*>\s*(?:<a[^>]*>)?([A-Z][a-z ]+)", html)
    assert headers == ["Name", "Phone"]
    assert "+49 30 123456" in html


def test_empty_states_say_what_to_do(world, logged_in):
    client = logged_in(world.admin)

    empty = client.get(LIST).content.decode()
    assert "No contacts yet" in empty and reverse("contacts:contact_create") in empty

    ContactFactory()
    filtered = client.get(LIST, {"q": "nobody-like-this"}).content.decode()
    assert "No contacts match these filters" in filtered and "Clear filters" in filtered


# --- Saved views -----------------------------------------------------------------------------------------


def test_saving_a_view_keeps_filters_sort_and_columns(world, logged_in):
    client = logged_in(world.marketer)

    response = client.post(
        reverse("contacts:saved_view_save"),
        {
            "object_type": "contact",
            "name": "German MQLs",
            "query": "stage=mql&country=DE&cols=name,email&after=abc",
            "shared": "1",
        },
    )

    view = SavedView.objects.get()
    assert (view.user, view.name, view.query, view.columns, view.shared) == (
        world.marketer,
        "German MQLs",
        "stage=mql&country=DE",
        ["name", "email"],
        True,
    )
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query) == {
        "stage": ["mql"],
        "country": ["DE"],
        "cols": ["name,email"],
        "view": [str(view.pk)],
    }


def test_views_menu_lists_own_and_shared_views_but_not_others_private_ones(world, logged_in):
    services.saved_view_save(user=world.rep, object_type="contact", name="Mine", query="owner=me")
    services.saved_view_save(
        user=world.marketer, object_type="contact", name="Team list", query="stage=mql", shared=True
    )
    services.saved_view_save(user=world.marketer, object_type="contact", name="Private", query="stage=sql")
    services.saved_view_save(user=world.rep, object_type="account", name="My accounts", query="owner=me")

    html = logged_in(world.rep).get(LIST).content.decode()

    menu = html[html.index('data-testid="saved-views-menu"') : html.index("Manage saved views")]
    assert re.findall(r'<span class="me-auto">([^<]+)</span>', menu) == ["Mine", "Team list"]


def test_saved_views_page_deletes_own_views_only(world, logged_in):
    own = services.saved_view_save(user=world.rep, object_type="contact", name="Mine", query="")
    theirs = services.saved_view_save(user=world.marketer, object_type="contact", name="Shared", query="", shared=True)
    client = logged_in(world.rep)

    page = client.get(reverse("contacts:saved_views")).content.decode()
    client.post(reverse("contacts:saved_views"), {"delete": own.pk})
    refused = client.post(reverse("contacts:saved_views"), {"delete": theirs.pk}, follow=True)

    assert "Mine" in page and "Shared" in page
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Shared"]
    assert "isn&#x27;t yours to delete" in refused.content.decode()


def test_saving_a_view_without_a_name_says_so(world, logged_in):
    response = logged_in(world.rep).post(
        reverse("contacts:saved_view_save"), {"object_type": "contact", "name": " ", "query": "stage=mql"}, follow=True
    )

    assert SavedView.objects.count() == 0
    assert "give the view a name" in response.content.decode()


# --- Bulk actions ----------------------------------------------------------------------------------------


def test_bulk_assign_owner_changes_only_the_ticked_contacts(world, logged_in):
    a, b, c = (ContactFactory(owner=None) for _ in range(3))

    response = logged_in(world.manager).post(
        BULK, {"action": "assign_owner", "owner_id": world.rep.pk, "ids": [a.pk, b.pk], "query": "stage=lead"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{LIST}?stage=lead"
    assert dict(Contact.objects.values_list("pk", "owner_id")) == {a.pk: world.rep.pk, b.pk: world.rep.pk, c.pk: None}
    assert AuditEntry.objects.filter(object_type="contact", note="bulk edit", actor=world.manager).count() == 2


def test_after_a_bulk_action_the_list_comes_back_with_its_filters_and_columns(world, logged_in):
    contact = ContactFactory(lifecycle_stage="lead", country="DE")
    client = logged_in(world.manager)
    page = client.get(LIST, {"country": "DE", "cols": "name,phone", "view": "7", "after": ""}).content.decode()
    query = re.search(r'<input type="hidden" name="query" value="([^"]*)">', page).group(1).replace("&amp;", "&")

    response = client.post(BULK, {"action": "set_stage", "stage": "sql", "ids": [contact.pk], "query": query})

    assert parse_qs(urlsplit(response["Location"]).query) == {"country": ["DE"], "cols": ["name,phone"]}


def test_bulk_actions_leave_contacts_the_user_cannot_see_alone(world, logged_in):
    mine = ContactFactory(owner=world.rep, lifecycle_stage="lead")
    hidden = ContactFactory(owner=world.other_rep, lifecycle_stage="lead")
    client = logged_in(world.rep)

    client.post(BULK, {"action": "set_stage", "stage": "sql", "ids": [mine.pk, hidden.pk]})
    client.post(BULK, {"action": "tag", "tag": "Hot", "ids": [mine.pk, hidden.pk]})
    client.post(BULK, {"action": "assign_owner", "owner_id": world.rep.pk, "ids": [hidden.pk]})

    assert dict(Contact.objects.values_list("pk", "lifecycle_stage")) == {mine.pk: "sql", hidden.pk: "lead"}
    assert list(ContactTag.objects.values_list("contact_id", flat=True)) == [mine.pk]
    assert Contact.objects.get(pk=hidden.pk).owner_id == world.other_rep.pk
    assert not AuditEntry.objects.filter(object_id=hidden.pk).exists()


def test_bulk_set_stage_records_each_lifecycle_change(world, logged_in):
    a, b = ContactFactory(lifecycle_stage="lead"), ContactFactory(lifecycle_stage="mql")

    response = logged_in(world.marketer).post(
        BULK, {"action": "set_stage", "stage": "sql", "ids": [a.pk, b.pk]}, follow=True
    )

    assert sorted(LifecycleChange.objects.values_list("contact_id", "from_stage", "to_stage")) == [
        (a.pk, "lead", "sql"),
        (b.pk, "mql", "sql"),
    ]
    assert "Moved 2 contacts to Sales qualified lead." in response.content.decode()


def test_bulk_tag_adds_the_tag(world, logged_in):
    a, b = ContactFactory(), ContactFactory()

    logged_in(world.marketer).post(BULK, {"action": "tag", "tag": "Trade fair", "ids": [a.pk]})

    assert list(Contact.objects.get(pk=a.pk).tags.values_list("name", flat=True)) == ["Trade fair"]
    assert Contact.objects.get(pk=b.pk).tags.count() == 0


def test_bulk_delete_hides_the_contacts(world, logged_in):
    a, b = ContactFactory(), ContactFactory()

    logged_in(world.manager).post(BULK, {"action": "delete", "ids": [a.pk]})

    assert list(Contact.objects.values_list("pk", flat=True)) == [b.pk]
    assert Contact.all_objects.get(pk=a.pk).deleted_at is not None
    assert AuditEntry.objects.filter(object_type="contact", object_id=a.pk, action="delete").count() == 1


def test_bulk_on_all_matching_goes_through_every_chunk_and_only_visible_rows(world, logged_in, monkeypatch):
    from rapport.contacts.views import records

    monkeypatch.setattr(records, "BULK_CHUNK", 2)
    matching = [ContactFactory(owner=world.rep, country="DE") for _ in range(5)]
    other_country = ContactFactory(owner=world.rep, country="FR")
    hidden = ContactFactory(owner=world.other_rep, country="DE")

    response = logged_in(world.rep).post(
        BULK, {"action": "set_stage", "stage": "customer", "all_matching": "1", "query": "country=DE"}, follow=True
    )

    customers = set(Contact.objects.filter(lifecycle_stage="customer").values_list("pk", flat=True))
    assert customers == {c.pk for c in matching}
    assert other_country.pk not in customers and hidden.pk not in customers
    assert "Moved 5 contacts to Customer." in response.content.decode()


def test_bulk_delete_is_refused_to_roles_that_may_not_delete(world, logged_in):
    contact = ContactFactory(owner=world.rep)

    response = logged_in(world.rep).post(BULK, {"action": "delete", "ids": [contact.pk]})

    assert response.status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_service_agents_and_partners_may_not_bulk_edit(world, logged_in):
    contact = ContactFactory(lifecycle_stage="lead")

    response = logged_in(world.agent).post(BULK, {"action": "set_stage", "stage": "sql", "ids": [contact.pk]})

    assert response.status_code == 403
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "lead"


def test_odd_ids_are_ignored_rather_than_failing(world, logged_in):
    contact = ContactFactory(lifecycle_stage="lead")
    client = logged_in(world.manager)

    bulk = client.post(BULK, {"action": "set_stage", "stage": "sql", "ids": ["²", "9" * 30, str(contact.pk)]})
    picker = client.get(reverse("contacts:account_suggest"), {"account_search": "x", "exclude": "9" * 30})
    form = client.get(CREATE, {"account": "²"})

    assert (bulk.status_code, picker.status_code, form.status_code) == (302, 200, 200)
    assert Contact.objects.get(pk=contact.pk).lifecycle_stage == "sql"


def test_bulk_without_ticked_rows_says_so(world, logged_in):
    response = logged_in(world.manager).post(BULK, {"action": "delete"}, follow=True)

    assert "Tick at least one row first." in response.content.decode()


def test_bulk_bar_offers_only_the_actions_the_role_may_take(world, logged_in, client):
    ContactFactory(owner=world.rep)

    rep_page = logged_in(world.rep).get(LIST).content.decode()
    client.logout()
    agent_page = logged_in(world.agent).get(LIST).content.decode()

    assert 'value="set_stage"' in rep_page and 'value="delete"' not in rep_page
    assert 'name="ids"' not in agent_page


# --- The record page -------------------------------------------------------------------------------------


@pytest.fixture
def ada(world):
    account = services.account_create(
        actor=world.admin, via=Via.PAGE, data={"name": "Analytical Engines", "domain": "engines.example"}
    )
    contact = services.contact_create(
        actor=world.admin,
        via=Via.PAGE,
        data={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@engines.example",
            "phone": "+442071234567",
            "job_title": "Head of Engineering",
            "account_id": account.pk,
            "tags": ["Pioneer"],
            "consent": {"email": "granted"},
        },
    )
    services.contact_update(
        actor=world.marketer, via=Via.PAGE, contact_id=contact.pk, data={"lifecycle_stage": "mql", "job_title": "CTO"}
    )
    return contact


def test_contact_page_shows_properties_account_tags_consent_and_provenance(world, logged_in, ada):
    colleague = ContactFactory(first_name="Charles", last_name="Babbage", account=ada.account)

    html = logged_in(world.admin).get(ada.get_absolute_url()).content.decode()

    assert '<h1 class="h4 mb-0">Ada Lovelace</h1>' in html
    assert re.search(r'data-testid="seniority">C-level <span class="text-body-secondary small">\(derived\)', html)
    assert 'href="mailto:ada@engines.example"' in html and 'href="tel:+442071234567"' in html
    assert "Analytical Engines" in html and colleague.full_name in html
    assert ">Pioneer</a>" in html
    consent = html[html.index('data-testid="consent-email"') : html.index('data-testid="consent-phone"')]
    assert "Granted" in consent and "History (1)" in consent and "Unknown → <strong>Granted</strong>" in consent
    provenance = html[html.index('data-testid="provenance"') :]
    groups = re.findall(r'<div class="text-body-secondary">([^<]+)</div>\s*<div class="mt-1">([^<]+)</div>', provenance)
    assert groups == [
        ("Page: Marketer", "Job title, Lifecycle stage"),
        ("Page: Admin", "Account, Email, Email consent, First name, Last name, Phone"),
    ]


def test_seniority_set_by_hand_is_labelled(world, logged_in):
    contact = services.contact_create(
        actor=world.admin, via=Via.PAGE, data={"first_name": "Max", "seniority": "director"}
    )

    html = logged_in(world.admin).get(contact.get_absolute_url()).content.decode()

    assert re.search(r'data-testid="seniority">Director <span class="text-body-secondary small">\(set by hand\)', html)


def test_timeline_and_history_show_changes_with_who_when_and_old_to_new(world, logged_in, ada):
    html = logged_in(world.admin).get(ada.get_absolute_url()).content.decode()

    timeline = html[html.index('data-testid="timeline"') : html.index('id="pane-history"')]
    assert "Lifecycle stage: Lead → Marketing qualified lead" in timeline
    assert "Email consent: Unknown → Granted" in timeline
    assert "Web visits, emails, form submissions and purchases will appear here" in html
    history = html[html.index('data-testid="history"') :]
    update = re.search(
        r"Updated</span>\s*<span>by Marketer</span>\s*<span class=\"text-body-secondary\">via Page", history
    )
    assert update is not None
    assert re.search(r"Job title</th><td[^>]*>Head of Engineering</td><td>.*?CTO</span>", history)


@pytest.mark.parametrize("who", ["other_rep", "partner"])
def test_a_hidden_contact_is_not_found(world, logged_in, who):
    contact = ContactFactory(owner=world.rep)
    client = logged_in(getattr(world, who))

    for url in (
        contact.get_absolute_url(),
        reverse("contacts:contact_edit", args=[contact.pk]),
        reverse("contacts:contact_vcard", args=[contact.pk]),
        reverse("contacts:contact_delete", args=[contact.pk]),
    ):
        assert client.get(url).status_code == 404, url


def test_vcard_download(world, logged_in, ada):
    response = logged_in(world.admin).get(reverse("contacts:contact_vcard", args=[ada.pk]))

    assert response["Content-Type"] == "text/vcard; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ada-lovelace.vcf"'
    assert "FN:Ada Lovelace\r\n" in response.content.decode()


# --- Create, edit, delete --------------------------------------------------------------------------------


def form_data(**values) -> dict[str, object]:
    data: dict[str, object] = {
        "first_name": "",
        "last_name": "",
        "email": "",
        "phone": "",
        "job_title": "",
        "seniority": "",
        "department": "",
        "account_id": "",
        "street": "",
        "postal_code": "",
        "city": "",
        "region": "",
        "country": "",
        "lifecycle_stage": "lead",
        "owner_id": "",
        "source": "",
        "tags": "",
        "external_id": "",
        "consent_email": "unknown",
        "consent_phone": "unknown",
        "consent_sms": "unknown",
        "consent_post": "unknown",
    }
    data.update(values)
    return data


def test_create_contact_saves_every_field_and_redirects_to_it(world, logged_in):
    account = AccountFactory(name="Initech")
    CustomField.objects.create(object_type="contact", key="shoe_size", label="Shoe size", field_type="number")
    CustomField.objects.create(
        object_type="contact", key="topics", label="Topics", field_type="multi_choice", choices=["CRM", "Email", "Ads"]
    )
    CustomField.objects.create(object_type="contact", key="newsletter", label="Newsletter", field_type="boolean")

    response = logged_in(world.manager).post(
        CREATE,
        form_data(
            first_name="Peter",
            last_name="Gibbons",
            email="Peter@Initech.example",
            phone="+1 415 555 0100",
            job_title="Software Engineer",
            account_id=account.pk,
            country="US",
            owner_id=world.rep.pk,
            tags="Printer, Office",
            consent_email="granted",
            lifecycle_stage="mql",
            cf_shoe_size="44.5",
            cf_topics=["CRM", "Ads"],
            cf_newsletter="true",
        ),
    )

    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    assert (contact.first_name, contact.last_name, contact.email, contact.phone) == (
        "Peter",
        "Gibbons",
        "peter@initech.example",
        "+14155550100",
    )
    assert (contact.account_id, contact.owner_id, contact.country, contact.lifecycle_stage) == (
        account.pk,
        world.rep.pk,
        "US",
        "mql",
    )
    assert (contact.seniority, contact.seniority_manual) == ("ic", False)
    assert contact.consent_email == "granted"
    assert contact.custom == {"shoe_size": 44.5, "topics": ["CRM", "Ads"], "newsletter": True}
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Office", "Printer"]
    assert (
        AuditEntry.objects.filter(object_type="contact", object_id=contact.pk, action="create", via="page").count() == 1
    )
    assert ConsentChange.objects.filter(contact=contact, channel="email", status="granted").count() == 1


def test_create_form_shows_each_error_next_to_its_field(world, logged_in):
    CustomField.objects.create(object_type="contact", key="shoe_size", label="Shoe size", field_type="number")

    response = logged_in(world.admin).post(
        CREATE,
        form_data(
            first_name="Bad",
            email="not-an-email",
            phone="12",
            cf_shoe_size="big",
        ),
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert Contact.objects.count() == 0

    def error(name):
        pattern = rf'<div id="err-{name}" class="field-errors" aria-live="polite">'
        found = re.search(pattern + r'<div class="invalid-feedback d-block">([^<]+)</div>', html)
        return found.group(1) if found else None

    assert error("email").startswith("&#x27;not-an-email&#x27; is not a valid email address")
    assert error("phone") == "&#x27;12&#x27; is not a valid phone number (wrong length for its country)."
    assert error("cf_shoe_size") == "&#x27;big&#x27; is not a number."
    assert error("first_name") is None
    assert 'value="Bad"' in html  # what was typed is kept
    email_input = re.search(r'<input type="email" name="email"[^>]*>', html).group(0)
    assert 'class="form-control is-invalid"' in email_input and 'aria-invalid="true"' in email_input


def test_required_custom_field_must_be_filled(world, logged_in):
    CustomField.objects.create(
        object_type="contact", key="region_code", label="Region code", field_type="text", required=True
    )

    html = logged_in(world.admin).post(CREATE, form_data(first_name="Ann")).content.decode()

    assert Contact.objects.count() == 0
    assert re.search(
        r'id="err-cf_region_code"[^>]*><div class="invalid-feedback d-block">Region code is required.', html
    )


def test_duplicate_email_on_create_links_to_the_existing_contact(world, logged_in):
    existing = ContactFactory(email="dup@example.org", first_name="First", last_name="One")

    response = logged_in(world.admin).post(CREATE, form_data(first_name="Second", email="DUP@example.org"))

    html = response.content.decode()
    assert response.status_code == 409
    assert Contact.objects.count() == 1
    assert "Email is already used by another contact." in html
    link = re.search(r'data-testid="duplicate-link"><a href="([^"]+)"', html)
    assert link.group(1) == existing.get_absolute_url()


def test_duplicate_email_is_reported_together_with_other_errors(world, logged_in):
    existing = ContactFactory(email="dup@example.org")

    html = (
        logged_in(world.admin)
        .post(CREATE, form_data(first_name="Second", email="dup@example.org", phone="12"))
        .content.decode()
    )

    assert "Email is already used by another contact." in html
    assert "is not a valid phone number" in html
    assert f'data-testid="duplicate-link"><a href="{existing.get_absolute_url()}"' in html


def test_duplicate_email_hidden_from_the_user_is_reported_without_a_link(world, logged_in):
    ContactFactory(email="dup@example.org", owner=world.other_rep)

    html = logged_in(world.rep).post(CREATE, form_data(first_name="Second", email="dup@example.org")).content.decode()

    assert "Email is already used by another contact." in html
    assert 'data-testid="duplicate-link"' not in html


def test_edit_changes_the_contact_and_bumps_its_version(world, logged_in, ada):
    client = logged_in(world.admin)
    page = client.get(reverse("contacts:contact_edit", args=[ada.pk])).content.decode()
    version = int(re.search(r'name="version" value="(\d+)"', page).group(1))

    response = client.post(
        reverse("contacts:contact_edit", args=[ada.pk]),
        form_data(
            version=version,
            first_name="Augusta Ada",
            last_name="King",
            email="ada@engines.example",
            account_id=ada.account_id,
            lifecycle_stage="sql",
            tags="Pioneer, Maths",
            seniority="vp",
            consent_email="denied",
        ),
    )

    ada.refresh_from_db()
    assert response.status_code == 302
    assert (ada.first_name, ada.last_name, ada.lifecycle_stage, ada.version) == (
        "Augusta Ada",
        "King",
        "sql",
        version + 1,
    )
    assert (ada.seniority, ada.seniority_manual) == ("vp", True)
    assert (ada.phone, ada.job_title) == ("", "")  # emptied on the form, emptied on the record
    assert sorted(ada.tags.values_list("name", flat=True)) == ["Maths", "Pioneer"]
    assert ada.consent_email == "denied"


def test_edit_writes_only_what_changed_so_other_fields_keep_their_source(world, logged_in):
    contact = services.contact_create(
        actor=None,
        via=Via.API,
        data={"first_name": "Dee", "last_name": "Tee", "email": "dee@example.org"},
        provenance=services.Provenance(party="third", source="DataCo"),
    )
    client = logged_in(world.admin)
    page = client.get(reverse("contacts:contact_edit", args=[contact.pk])).content.decode()
    values = dict(re.findall(r'<input type="(?:text|email|hidden|tel)" name="(\w+)" value="([^"]*)"', page))

    client.post(reverse("contacts:contact_edit", args=[contact.pk]), form_data(**{**values, "first_name": "Dora"}))

    html = client.get(contact.get_absolute_url()).content.decode()
    provenance = html[html.index('data-testid="provenance"') :]
    groups = re.findall(r'<div class="text-body-secondary">([^<]+)</div>\s*<div class="mt-1">([^<]+)</div>', provenance)
    assert groups == [("Page: Admin", "First name"), ("DataCo · via API", "Email, Last name")]
    entry = AuditEntry.objects.filter(object_id=contact.pk, action="update").get()
    assert entry.changes == {"first_name": ["Dee", "Dora"]}


def test_concurrent_edit_is_refused_with_the_form_kept(world, logged_in, ada):
    client = logged_in(world.admin)
    page = client.get(reverse("contacts:contact_edit", args=[ada.pk])).content.decode()
    version = int(re.search(r'name="version" value="(\d+)"', page).group(1))
    services.contact_update(actor=world.marketer, via=Via.API, contact_id=ada.pk, data={"job_title": "Countess"})

    response = client.post(
        reverse("contacts:contact_edit", args=[ada.pk]),
        form_data(
            version=version,
            first_name="Lost",
            last_name="Update",
            email="ada@engines.example",
        ),
    )

    html = response.content.decode()
    ada.refresh_from_db()
    assert response.status_code == 409
    assert (ada.first_name, ada.job_title) == ("Ada", "Countess")
    assert "Someone else changed this contact while you were editing it." in html
    assert 'value="Lost"' in html and 'value="Update"' in html


def test_edit_to_an_email_another_contact_has_is_refused(world, logged_in, ada):
    other = ContactFactory(email="taken@example.org")
    ada.refresh_from_db()

    response = logged_in(world.admin).post(
        reverse("contacts:contact_edit", args=[ada.pk]),
        form_data(
            version=ada.version,
            first_name="Ada",
            email="taken@example.org",
        ),
    )

    assert response.status_code == 409
    assert Contact.objects.get(pk=ada.pk).email == "ada@engines.example"
    assert f'href="{other.get_absolute_url()}"' in response.content.decode()


def test_partner_creates_contacts_only_under_their_accounts_and_sets_no_owner(world, logged_in):
    shared = AccountFactory(partner_organisation=world.partner.partner_organisation)
    client = logged_in(world.partner)

    page = client.get(CREATE).content.decode()
    refused = client.post(CREATE, {**form_data(first_name="No", last_name="Account"), "owner_id": world.rep.pk})
    created = client.post(CREATE, form_data(first_name="Yes", last_name="Account", account_id=shared.pk))

    assert 'name="owner_id"' not in page
    assert refused.status_code == 422
    assert "Choose one of your organisation" in refused.content.decode()
    assert created.status_code == 302
    assert list(Contact.objects.values_list("first_name", "account_id", "owner_id")) == [("Yes", shared.pk, None)]


def test_delete_asks_then_hides_the_contact(world, logged_in, ada):
    client = logged_in(world.manager)
    url = reverse("contacts:contact_delete", args=[ada.pk])

    ask = client.get(url)
    done = client.post(url)

    assert ask.status_code == 200 and "Delete Ada Lovelace?" in ask.content.decode()
    assert done.status_code == 302 and done["Location"] == LIST
    assert Contact.all_objects.get(pk=ada.pk).deleted_at is not None
    assert client.get(ada.get_absolute_url()).status_code == 404


def test_reps_may_not_delete_contacts(world, logged_in):
    contact = ContactFactory(owner=world.rep)

    response = logged_in(world.rep).post(reverse("contacts:contact_delete", args=[contact.pk]))

    assert response.status_code == 403
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- Field checks while typing, and the account picker ----------------------------------------------------


def check_field(client, name, url=None, **data):
    return client.post(
        url or reverse("contacts:contact_validate"),
        form_data(**data),
        headers={"HX-Request": "true", "HX-Trigger-Name": name},
    ).content.decode()


def test_field_check_reports_a_bad_email_and_phone_at_once(world, logged_in):
    client = logged_in(world.admin)

    assert "&#x27;nope@&#x27; is not a valid email address" in check_field(client, "email", email="nope@")
    assert "&#x27;12&#x27; is not a valid phone number" in check_field(client, "phone", phone="12")
    assert check_field(client, "phone", phone="030 1234567", country="DE").strip() == ""
    assert check_field(client, "email", email="fine@example.org").strip() == ""


def test_field_check_finds_a_duplicate_email_but_not_the_contact_itself(world, logged_in, ada):
    client = logged_in(world.admin)

    taken = check_field(client, "email", email="ada@engines.example")
    own = check_field(
        client, "email", url=reverse("contacts:contact_validate") + f"?pk={ada.pk}", email="ada@engines.example"
    )

    assert "Email is already used by another contact." in taken
    assert f'href="{ada.get_absolute_url()}"' in taken
    assert own.strip() == ""


def test_field_check_validates_custom_fields_by_type(world, logged_in):
    CustomField.objects.create(object_type="contact", key="born", label="Born", field_type="date")

    html = check_field(logged_in(world.admin), "cf_born", cf_born="31/31/2020")

    assert html.strip() == (
        '<div class="invalid-feedback d-block">&#x27;31/31/2020&#x27; is not a date; write it as YYYY-MM-DD, '
        "e.g. 2026-01-31.</div>"
    )


def test_account_picker_suggests_only_visible_accounts(world, logged_in):
    AccountFactory(name="Acme Shared", partner_organisation=world.partner.partner_organisation)
    AccountFactory(name="Acme Private")

    html = (
        logged_in(world.partner).get(reverse("contacts:account_suggest"), {"account_search": "acme"}).content.decode()
    )

    assert re.findall(r'data-name="([^"]+)"', html) == ["Acme Shared"]


def test_new_contact_form_starts_with_unknown_consent_on_every_channel(world, logged_in):
    """Given a blank form, every consent select shows 'Unknown', so saving it grants nothing."""
    html = logged_in(world.admin).get(reverse("contacts:contact_create")).content.decode()
    for channel in ("email", "phone", "sms", "post"):
        select = re.search(rf'<select[^>]*name="consent_{channel}".*?</select>', html, re.S).group(0)
        assert re.findall(r'<option value="(\w+)"[^>]*selected', select) == ["unknown"], channel
