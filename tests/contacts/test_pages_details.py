"""Details of the record pages a user reads: imports in a record's history, the names of data sources,
the company hierarchy card, the consent inputs' labels, the account list's columns and the search page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from rapport.contacts import services
from rapport.contacts.importing import import_job_create, import_mapping_save, import_run
from rapport.contacts.models import Contact, DataSource, ImportJob
from rapport.core.models import Via
from tests.factories import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def import_file(actor: Any, tmp_path: Path, name: str, text: str) -> ImportJob:
    """Run an import of a contacts file with Email, First Name and Owner columns."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    job = import_job_create(actor=actor, via=Via.PAGE, object_type="contact", original_name=name, source_path=path)
    import_mapping_save(
        actor=actor, job_id=job.pk, mapping={"Email": "email", "First Name": "first_name", "Owner": "owner"}
    )
    return import_run(job_id=job.pk)


def imported_contact(actor: Any, tmp_path: Path) -> tuple[ImportJob, Contact]:
    """A contact created by an import of ``leads.csv``, owned by the user ``rep``."""
    job = import_file(actor, tmp_path, "leads.csv", "Email,First Name,Owner\nada@example.org,Ada,rep\n")
    return job, Contact.objects.get(email="ada@example.org")


def between(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


# --- An imported record's history ------------------------------------------------------------------


def test_an_imported_contacts_history_says_which_import_created_it_with_a_link(world, logged_in, tmp_path):
    # Given a contact created by the marketer's import
    job, contact = imported_contact(world.marketer, tmp_path)

    # When the marketer opens it
    html = logged_in(world.marketer).get(contact.get_absolute_url()).content.decode()

    # Then its history names the import and its file, linked to the import's page, instead of an empty list
    url = reverse("contacts:import_detail", args=[job.pk])
    history = html[html.index('data-testid="history"') :]
    assert re.search(
        rf'data-testid="history-import">Created by <a href="{url}">import #{job.pk} \(leads\.csv\)</a>\.', history
    )
    assert "Fields changed" not in between(html, 'data-testid="history"', "</section>")
    # And the timeline says the same
    timeline = between(html, 'data-testid="timeline"', 'id="pane-history"')
    assert re.search(rf'Created by <a href="{url}">import #{job.pk} \(leads\.csv\)</a>', timeline)


@pytest.mark.parametrize("who", ["manager", "rep"])
def test_users_who_may_not_open_the_import_see_it_named_without_a_link(world, logged_in, tmp_path, who):
    # Given a contact the marketer imported, owned by the rep (a manager may import but not open others' imports)
    job, contact = imported_contact(world.marketer, tmp_path)

    html = logged_in(getattr(world, who)).get(contact.get_absolute_url()).content.decode()

    assert f'data-testid="history-import">Created by import #{job.pk} (leads.csv).' in html
    assert reverse("contacts:import_detail", args=[job.pk]) not in html


def test_an_admin_gets_the_link_to_anyones_import(world, logged_in, tmp_path):
    job, contact = imported_contact(world.marketer, tmp_path)

    html = logged_in(world.admin).get(contact.get_absolute_url()).content.decode()

    assert f'<a href="{reverse("contacts:import_detail", args=[job.pk])}">import #{job.pk} (leads.csv)</a>' in html


def test_naming_the_imports_in_a_history_costs_the_same_queries_however_many_there_are(
    world, logged_in, tmp_path, django_assert_max_num_queries
):
    # Given a contact created by one import and changed by three more
    _, contact = imported_contact(world.marketer, tmp_path)
    for n in range(3):
        import_file(world.marketer, tmp_path, f"update{n}.csv", f"Email,First Name,Owner\nada@example.org,Ada{n},rep\n")
    client = logged_in(world.marketer)
    client.get(contact.get_absolute_url())  # the session is read once logged in

    # When the page is shown, the four imports are named with two queries (names, and which the user may open)
    with django_assert_max_num_queries(12):
        html = client.get(contact.get_absolute_url()).content.decode()

    assert html.count('href="/imports/') == 4 * 2  # each in the history and the timeline
    assert "Updated by <a" in html


# --- Where the data came from --------------------------------------------------------------------------


def test_a_source_saved_with_a_username_shows_the_persons_name(world, logged_in):
    # Given a contact whose email was written through a page by alice, in a source saved as "Page: alice"
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    source = DataSource.objects.create(party="first", name="Page: alice", via=Via.PAGE, actor=alice)
    contact = ContactFactory(email="ada@example.org", provenance={"email": source.pk})

    html = logged_in(world.admin).get(contact.get_absolute_url()).content.decode()

    provenance = html[html.index('data-testid="provenance"') :]
    assert '<div class="text-body-secondary">Page: Alice Archer</div>' in provenance
    assert "Page: alice" not in provenance


def test_a_source_named_otherwise_keeps_its_name(world, logged_in):
    alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    source = DataSource.objects.create(party="third", name="alice", via=Via.API, actor=alice)
    account = AccountFactory(name="Engines", provenance={"name": source.pk})

    html = logged_in(world.admin).get(account.get_absolute_url()).content.decode()

    assert '<div class="text-body-secondary">alice · via API</div>' in html


def test_an_accounts_sources_name_people_by_name(world, logged_in):
    world.marketer.first_name, world.marketer.last_name = "Mara", "Keting"
    world.marketer.save()
    account = services.account_create(actor=world.marketer, via=Via.PAGE, data={"name": "Engines"})

    html = logged_in(world.admin).get(account.get_absolute_url()).content.decode()

    assert '<div class="text-body-secondary">Page: Mara Keting</div>' in html


# --- The contact form's consent inputs ----------------------------------------------------------------


def test_the_consent_selects_have_names_of_their_own_in_a_consent_fieldset(world, logged_in):
    html = logged_in(world.marketer).get(reverse("contacts:contact_create")).content.decode()

    consent = between(html, "<fieldset>", "</fieldset>")
    assert '<legend class="visually-hidden">Consent</legend>' in consent
    labels = re.findall(r'<label class="form-label" for="id_consent_(\w+)">([^<]+)</label>', consent)
    assert labels == [
        ("email", "Email consent"),
        ("phone", "Phone consent"),
        ("sms", "SMS consent"),
        ("post", "Post consent"),
    ]
    assert re.findall(r'<label class="form-label" for="id_(email|phone)">([^<]+)</label>', html) == [
        ("email", "Email"),
        ("phone", "Phone"),
    ]


# --- The account page's company hierarchy ------------------------------------------------------------


def test_an_account_without_parent_or_subsidiaries_has_no_hierarchy_card(world, logged_in):
    account = AccountFactory(name="Loner Ltd")

    html = logged_in(world.admin).get(account.get_absolute_url()).content.decode()

    assert 'data-testid="hierarchy"' not in html
    assert "Company hierarchy" not in html
    assert re.search(r"<dt>Parent account</dt><dd>—</dd>", html)
    assert ">None<" not in html


def test_a_subsidiary_shows_its_parent_and_a_dash_for_no_subsidiaries(world, logged_in):
    group = AccountFactory(name="Umbrella Group")
    labs = AccountFactory(name="Umbrella Labs", parent=group)

    html = logged_in(world.admin).get(labs.get_absolute_url()).content.decode()

    card = between(html, 'data-testid="hierarchy"', "</section>")
    assert f'<a href="{group.get_absolute_url()}">Umbrella Group</a>' in card
    assert re.search(r"Subsidiaries</div>\s*—\s*</div>", card)
    assert "None" not in card


def test_a_parent_lists_its_subsidiaries_and_a_dash_for_no_parent(world, logged_in):
    group = AccountFactory(name="Umbrella Group")
    AccountFactory(name="Umbrella Labs", parent=group, country="DE")

    html = logged_in(world.admin).get(group.get_absolute_url()).content.decode()

    card = between(html, 'data-testid="hierarchy"', "</section>")
    assert re.search(r"Parent</div>\s*—\s*<div", card)
    assert re.search(
        r'data-testid="children">\s*<li><a href="/accounts/\d+/">Umbrella Labs</a> <abbr[^>]*title="Germany"', card
    )


# --- The account list's default columns ----------------------------------------------------------------


def test_the_account_lists_default_columns_leave_partner_to_the_column_chooser(world, logged_in):
    AccountFactory(name="A" * 120, name_key="a" * 120, domain="very-long-domain.example")

    html = logged_in(world.manager).get(reverse("contacts:account_list")).content.decode()

    headers = re.findall(r'<th scope="col"[^>]*>\s*(?:<a class="sort"[^>]*>)?([A-Z][a-z]+)', html)
    assert headers == ["Name", "Domain", "Industry", "Size", "Country", "Owner", "Stage", "Contacts", "Updated"]
    assert re.search(r'<input class="form-check-input" type="checkbox" name="cols" value="partner" id="col-\d+">', html)
    # Long names and domains are cut in the cell, whole on hover
    assert f'<td class="truncate" title="{"A" * 120}"><a class="fw-medium"' in html
    assert '<td class="truncate" title="very-long-domain.example">very-long-domain.example</td>' in html


# --- The search page ---------------------------------------------------------------------------------


def test_the_search_pages_box_is_named_apart_from_the_headers(world, logged_in):
    html = logged_in(world.admin).get(reverse("contacts:search"), {"q": "ada"}).content.decode()

    assert '<label for="global-search" class="visually-hidden">Search contacts and accounts</label>' in html
    assert '<label class="visually-hidden" for="search-page-q">Search again</label>' in html
    assert 'role="search" aria-label="Search again"' in html
