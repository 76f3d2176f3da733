"""The contacts REST API over HTTP: CRUD, validation, access, optimistic locking, lists, search, paging and bulk."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.contacts import services
from rapport.contacts.models import ConsentChange, Contact, CustomField, LifecycleChange, Tag
from rapport.core.models import ApiToken, AuditEntry
from tests.factories import AccountFactory, ContactFactory, UserFactory

URL = "/api/v1/contacts"

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(world):
    """Contacts each role sees differently: the rep's own, another team's, and contacts of partner-shared accounts."""
    shared = AccountFactory(
        name="Shared GmbH", domain="shared.example", partner_organisation=world.partner.partner_organisation
    )
    other_shared = AccountFactory(
        name="Elsewhere Ltd", domain="elsewhere.example", partner_organisation=world.other_partner.partner_organisation
    )
    return SimpleNamespace(
        own=ContactFactory(owner=world.rep, first_name="Olga", last_name="Own", email="olga@own.example"),
        other_team=ContactFactory(
            owner=world.other_rep, first_name="Otto", last_name="Hidden", email="otto@hidden.example"
        ),
        partner_contact=ContactFactory(
            owner=world.other_rep, account=shared, first_name="Paula", last_name="Shared", email="paula@shared.example"
        ),
        other_partner_contact=ContactFactory(
            account=other_shared, first_name="Oskar", last_name="Elsewhere", email="oskar@elsewhere.example"
        ),
        shared=shared,
        other_shared=other_shared,
    )


def field_errors(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def custom_field(key: str, field_type: str, choices=()) -> CustomField:
    return services.custom_field_save(
        actor=None, object_type="contact", key=key, label=key.title(), field_type=field_type, choices=choices
    )


# --- Create and read ----------------------------------------------------------------------------------


def test_create_normalises_values_derives_seniority_and_records_history(world, api_for):
    # Given an admin with a write token
    api = api_for(world.admin)

    # When they create a contact
    response = api.post(
        URL,
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "Ada@Example.COM",
            "phone": "+49 30 1234567",
            "job_title": "VP Engineering",
            "country": "Germany",
            "tags": ["VIP", "beta", "vip"],
            "consent": {"email": "granted"},
            "lifecycle_stage": "mql",
            "external_id": "crm-1",
        },
    )

    # Then it is stored normalised, with derived seniority, and answered in full
    assert response.status_code == 201
    body = response.json()
    contact = Contact.objects.get()
    assert response["ETag"] == '"1"'
    assert body["id"] == contact.pk
    assert {k: body[k] for k in body if k not in ("id", "created_at", "updated_at", "provenance", "territory_id")} == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "+49301234567",
        "job_title": "VP Engineering",
        "seniority": "vp",
        "seniority_source": "derived",
        "department": "",
        "account_id": None,
        "street": "",
        "postal_code": "",
        "city": "",
        "region": "",
        "country": "DE",
        "lifecycle_stage": "mql",
        "owner_id": None,
        "source": "API",
        "tags": ["beta", "VIP"],
        "consent": {"email": "granted", "phone": "unknown", "sms": "unknown", "post": "unknown"},
        "external_id": "crm-1",
        "custom": {},
        "version": 1,
    }
    # The rep's DACH territory covers Germany.
    assert body["territory_id"] == world.rep.territories.get().pk
    assert body["provenance"]["email"]["party"] == "first"
    assert body["provenance"]["email"]["source"] == "API: Admin"
    assert body["provenance"]["email"]["via"] == "api"
    assert set(body["provenance"]) == {
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "country",
        "lifecycle_stage",
        "external_id",
        "consent_email",
    }
    audit = AuditEntry.objects.get(object_type="contact", object_id=contact.pk)
    assert (audit.action, audit.via, audit.actor) == ("create", "api", world.admin)
    assert list(ConsentChange.objects.values_list("channel", "previous", "status", "via")) == [
        ("email", "unknown", "granted", "api")
    ]
    assert list(LifecycleChange.objects.values_list("from_stage", "to_stage")) == [("", "mql")]


def test_read_returns_the_contact_with_provenance_and_etag(world, api_for):
    api = api_for(world.admin)
    created = api.post(URL, {"first_name": "Ada", "email": "ada@example.com"}).json()

    response = api.get(f"{URL}/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert response["ETag"] == '"1"'


def test_a_rep_creating_a_contact_becomes_its_owner(world, api_for):
    response = api_for(world.rep).post(URL, {"first_name": "Mine"})

    assert response.status_code == 201
    assert response.json()["owner_id"] == world.rep.pk


def test_a_manual_seniority_is_kept_and_null_returns_to_the_derived_one(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada", "job_title": "Sales Director", "seniority": "c_level"}).json()[
        "id"
    ]
    assert api.get(f"{URL}/{contact_id}").json()["seniority_source"] == "manual"

    response = api.patch(f"{URL}/{contact_id}", {"seniority": None})

    assert (response.json()["seniority"], response.json()["seniority_source"]) == ("director", "derived")


def test_provenance_header_records_a_third_party_source_for_the_fields_written(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"job_title": "CTO"}, HTTP_X_DATA_SOURCE="third:ZoomInfo")

    provenance = response.json()["provenance"]
    assert (provenance["job_title"]["party"], provenance["job_title"]["source"]) == ("third", "ZoomInfo")
    assert (provenance["first_name"]["party"], provenance["first_name"]["source"]) == ("first", "API: Admin")


def test_provenance_header_names_a_second_party_partner_on_create(world, api_for):
    response = api_for(world.admin).post(URL, {"first_name": "Ada"}, HTTP_X_DATA_SOURCE="second: Acme Partner ")

    assert response.status_code == 201
    assert response.json()["provenance"]["first_name"]["party"] == "second"
    assert response.json()["provenance"]["first_name"]["source"] == "Acme Partner"


@pytest.mark.parametrize("header", ["ZoomInfo", "fourth:Acme", "third:", "third:   ", "third:" + "x" * 101])
def test_a_malformed_provenance_header_is_refused_and_nothing_is_written(world, api_for, header):
    response = api_for(world.admin).post(URL, {"first_name": "Ada"}, HTTP_X_DATA_SOURCE=header)

    assert response.status_code == 422
    assert field_errors(response) == ["X-Data-Source"]
    assert Contact.objects.count() == 0


# --- Validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"email": "not-an-email", "first_name": "A"}, "email", None),
        (
            {"first_name": "A", "phone": "12"},
            "phone",
            "'12' is not a valid phone number (wrong length for its country).",
        ),
        ({"first_name": "A", "phone": "call me"}, "phone", None),
        ({"first_name": "A", "nickname": "Al"}, "nickname", "is not a known field."),
        ({"first_name": "A", "version": 3}, "version", "is not a known field."),
        ({"first_name": 42}, "first_name", "must be text."),
        ({"first_name": "A", "tags": "vip"}, "tags", "must be a list."),
        ({"first_name": "A", "tags": ["ok", 7]}, "tags.1", "must be text."),
        (
            {"first_name": "A", "consent": {"email": "yes"}},
            "consent.email",
            "must be 'granted', 'denied' or 'unknown'.",
        ),
        ({"first_name": "A", "consent": {"fax": "granted"}}, "consent.fax", "is not a known field."),
        ({"first_name": "A", "consent": "granted"}, "consent", "must be an object."),
        (
            {"first_name": "A", "custom": {"shoe_size": 42}},
            "custom.shoe_size",
            "is not a custom field (known: none are defined).",
        ),
        ({"first_name": "A", "custom": []}, "custom", "must be an object."),
        ({"first_name": "A", "country": "Narnia"}, "country", None),
        ({"first_name": "A", "lifecycle_stage": "hot"}, "lifecycle_stage", None),
        ({"first_name": "A", "seniority": "boss"}, "seniority", None),
        ({"first_name": "A", "owner_id": "rep"}, "owner_id", None),
        ({"first_name": "A", "owner_id": True}, "owner_id", None),
        ({"first_name": "A", "owner_id": 987654}, "owner_id", None),
        ({"first_name": "A", "account_id": 2**70}, "account_id", None),
        ({"first_name": "A", "account_id": 987654}, "account_id", "no account with id 987654."),
        ({"first_name": "A", "job_title": "x" * 201}, "job_title", "is too long (201 characters; at most 200)."),
        ({"first_name": "A\x00", "email": "a@example.org"}, "first_name", "contains a NUL character."),
        ({}, "", "A contact needs at least a name, an email address or a phone number."),
        ([], "body", "must be an object."),
        ("just text", "body", "must be an object."),
    ],
)
def test_invalid_input_is_refused_with_422_naming_the_field(world, api_for, body, field, message):
    response = api_for(world.admin).post(URL, json.dumps(body))

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert field_errors(response) == [field]
    if message is not None:
        assert response.json()["errors"][0]["message"] == message
    assert Contact.objects.count() == 0


def test_a_custom_field_value_of_the_wrong_type_is_refused(world, api_for):
    custom_field("employees", CustomField.FieldType.NUMBER)
    custom_field("tier", CustomField.FieldType.CHOICE, ["Gold", "Silver"])
    api = api_for(world.admin)

    response = api.post(URL, {"first_name": "A", "custom": {"employees": "many", "tier": "Bronze"}})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "custom.employees", "message": "must be a number."},
        {"field": "custom.tier", "message": "'Bronze' is not a choice here; use one of: Gold, Silver."},
    ]


def test_valid_custom_field_values_are_stored_and_merged_on_patch(world, api_for):
    custom_field("employees", CustomField.FieldType.NUMBER)
    custom_field("newsletter", CustomField.FieldType.BOOLEAN)
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "A", "custom": {"employees": 12}}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"custom": {"newsletter": True}})

    assert response.json()["custom"] == {"employees": 12, "newsletter": True}


def test_a_duplicate_email_is_a_409_naming_the_existing_contact(world, api_for, records):
    response = api_for(world.admin).post(URL, {"first_name": "Otto", "email": "OTTO@hidden.example"})

    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "A contact with the email otto@hidden.example already exists.",
        "errors": [{"field": "email", "message": "is already used by another contact."}],
        "existing_id": records.other_team.pk,
    }


def test_a_duplicate_external_id_is_a_409_naming_the_existing_contact(world, api_for):
    api = api_for(world.admin)
    first = api.post(URL, {"first_name": "A", "external_id": "sf-1"}).json()

    response = api.post(URL, {"first_name": "B", "external_id": "sf-1"})

    assert response.status_code == 409
    assert response.json()["existing_id"] == first["id"]
    assert field_errors(response) == ["external_id"]


def test_a_duplicate_of_a_contact_the_caller_cannot_see_does_not_reveal_its_id(world, api_for, records):
    response = api_for(world.rep).post(URL, {"first_name": "Otto", "email": "otto@hidden.example"})

    assert response.status_code == 409
    assert "existing_id" not in response.json()
    assert Contact.objects.filter(email="otto@hidden.example").count() == 1


def test_changing_the_email_to_one_already_used_is_a_409(world, api_for, records):
    response = api_for(world.admin).patch(f"{URL}/{records.own.pk}", {"email": "otto@hidden.example"})

    assert response.status_code == 409
    assert response.json()["existing_id"] == records.other_team.pk
    records.own.refresh_from_db()
    assert records.own.email == "olga@own.example"


# --- Update -------------------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields_and_bumps_the_version(world, api_for):
    api = api_for(world.admin)
    created = api.post(
        URL, {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "job_title": "Engineer"}
    ).json()

    response = api.patch(f"{URL}/{created['id']}", {"job_title": "Intern"})

    assert response.status_code == 200
    body = response.json()
    assert response["ETag"] == '"2"'
    changed = {k for k in body if body[k] != created[k]}
    assert changed == {"job_title", "seniority", "version", "updated_at", "provenance"}
    assert (body["job_title"], body["seniority"], body["version"]) == ("Intern", "intern", 2)
    update = AuditEntry.objects.get(object_id=created["id"], action="update")
    assert update.changes == {"job_title": ["Engineer", "Intern"], "seniority": ["ic", "intern"]}


def test_patch_with_null_or_empty_string_empties_a_field(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada", "phone": "+4930123456", "city": "Berlin"}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"phone": None, "city": ""})

    assert (response.json()["phone"], response.json()["city"]) == ("", "")


def test_patch_with_tags_replaces_the_contacts_tags(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada", "tags": ["a", "b"]}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"tags": ["b", "c"]})

    assert response.json()["tags"] == ["b", "c"]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["a", "b", "c"]


def test_patch_of_consent_records_the_change_with_its_previous_status(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada", "consent": {"email": "granted"}}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"consent": {"email": "denied", "sms": "granted"}})

    assert response.json()["consent"] == {"email": "denied", "phone": "unknown", "sms": "granted", "post": "unknown"}
    assert sorted(ConsentChange.objects.filter(contact_id=contact_id).values_list("channel", "previous", "status")) == [
        ("email", "granted", "denied"),
        ("email", "unknown", "granted"),
        ("sms", "unknown", "granted"),
    ]


def test_an_empty_patch_changes_nothing(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {})

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert AuditEntry.objects.filter(object_id=contact_id, action="update").count() == 0


def test_patch_that_would_leave_no_name_email_or_phone_is_refused(world, api_for):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"first_name": ""})

    assert response.status_code == 422
    assert Contact.objects.get().first_name == "Ada"


# --- Optimistic locking and concurrency ---------------------------------------------------------------


def test_two_patches_with_the_same_if_match_one_succeeds_and_one_conflicts(world, api_for):
    # Given two clients that read version 1 of the same contact
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]
    etag = api.get(f"{URL}/{contact_id}")["ETag"]

    # When both send their change with If-Match of that version
    first = api.patch(f"{URL}/{contact_id}", {"last_name": "Lovelace"}, HTTP_IF_MATCH=etag)
    second = api_for(world.marketer).patch(f"{URL}/{contact_id}", {"last_name": "Byron"}, HTTP_IF_MATCH=etag)

    # Then the first wins and the second is told, without overwriting it
    assert (first.status_code, first.json()["version"], first["ETag"]) == (200, 2, '"2"')
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"
    assert second.json()["existing_id"] == contact_id
    contact = Contact.objects.get()
    assert (contact.last_name, contact.version) == ("Lovelace", 2)


@pytest.mark.parametrize("header", ["2", '"2"', 'W/"2"', "*"])
def test_if_match_accepts_the_current_version_in_the_usual_forms(world, api_for, header):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]
    api.patch(f"{URL}/{contact_id}", {"last_name": "One"})

    response = api.patch(f"{URL}/{contact_id}", {"last_name": "Two"}, HTTP_IF_MATCH=header)

    assert (response.status_code, response.json()["version"]) == (200, 3)


@pytest.mark.parametrize("header", ["abc", '"1', "1.0", "-1", "99999999999"])
def test_a_malformed_if_match_is_refused(world, api_for, header):
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]

    response = api.patch(f"{URL}/{contact_id}", {"last_name": "X"}, HTTP_IF_MATCH=header)

    assert response.status_code == 422
    assert field_errors(response) == ["If-Match"]
    assert Contact.objects.get().last_name == ""


def _in_threads(*calls):
    """Run each call in its own thread, released together; return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_with_the_same_if_match_let_exactly_one_through(world, api_for):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's shared in-memory test database can't take two writers at once")
    clients = [api_for(world.admin), api_for(world.marketer), api_for(world.manager)]
    contact_id = clients[0].post(URL, {"first_name": "Ada"}).json()["id"]

    responses = _in_threads(
        *[
            lambda api=api, n=n: api.patch(f"{URL}/{contact_id}", {"last_name": f"N{n}"}, HTTP_IF_MATCH='"1"')
            for n, api in enumerate(clients)
        ]
    )

    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    winner = next(r for r in responses if r.status_code == 200).json()
    contact = Contact.objects.get()
    assert (contact.last_name, contact.version) == (winner["last_name"], 2)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_patches_of_different_fields_lose_no_update(world, api_for):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's shared in-memory test database can't take two writers at once")
    api = api_for(world.admin)
    contact_id = api.post(URL, {"first_name": "Ada"}).json()["id"]
    changes = [{"last_name": "Lovelace"}, {"job_title": "CTO"}, {"department": "Research"}, {"city": "London"}]

    responses = _in_threads(*[lambda body=body: api.patch(f"{URL}/{contact_id}", body) for body in changes])

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    contact = Contact.objects.get()
    assert (contact.last_name, contact.job_title, contact.department, contact.city) == (
        "Lovelace",
        "CTO",
        "Research",
        "London",
    )
    assert contact.version == 5
    assert sorted(r.json()["version"] for r in responses) == [2, 3, 4, 5]


# --- Delete -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "marketer", "manager"])
def test_roles_that_may_delete_soft_delete_a_contact(world, api_for, records, role):
    api = api_for(getattr(world, role))

    response = api.delete(f"{URL}/{records.own.pk}")

    assert (response.status_code, response.content) == (204, b"")
    assert api.get(f"{URL}/{records.own.pk}").status_code == 404
    kept = Contact.all_objects.get(pk=records.own.pk)
    assert kept.deleted_at is not None
    assert AuditEntry.objects.filter(object_id=records.own.pk, action="delete", via="api").count() == 1


@pytest.mark.parametrize(
    ("role", "record"), [("agent", "own"), ("rep", "own"), ("teammate", "own"), ("partner", "partner_contact")]
)
def test_roles_without_the_delete_capability_get_403_for_records_they_see(world, api_for, records, role, record):
    contact = getattr(records, record)

    response = api_for(getattr(world, role)).delete(f"{URL}/{contact.pk}")

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert response.json()["message"] == "Your role may not do this (records: delete)."
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_deleting_a_contact_that_does_not_exist_is_404(world, api_for):
    assert api_for(world.admin).delete(f"{URL}/424242").status_code == 404


# --- Access -------------------------------------------------------------------------------------------

HIDDEN = [
    ("rep", "other_team"),
    ("rep", "partner_contact"),
    ("rep", "other_partner_contact"),
    ("partner", "own"),
    ("partner", "other_team"),
    ("partner", "other_partner_contact"),
]


@pytest.mark.parametrize(("role", "record"), HIDDEN)
def test_a_hidden_contact_is_404_by_id(world, api_for, records, role, record):
    contact = getattr(records, record)

    response = api_for(getattr(world, role)).get(f"{URL}/{contact.pk}")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": f"No contact with id {contact.pk}.", "errors": []}


@pytest.mark.parametrize(("role", "record"), HIDDEN)
def test_a_hidden_contact_is_404_on_patch_and_stays_unchanged(world, api_for, records, role, record):
    contact = getattr(records, record)

    response = api_for(getattr(world, role)).patch(f"{URL}/{contact.pk}", {"first_name": "Hijacked"})

    assert response.status_code == 404
    contact.refresh_from_db()
    assert contact.first_name != "Hijacked"
    assert contact.version == 1


@pytest.mark.parametrize(("role", "record"), HIDDEN)
def test_a_hidden_contact_is_404_on_delete_and_stays(world, api_for, records, role, record):
    contact = getattr(records, record)

    response = api_for(getattr(world, role)).delete(f"{URL}/{contact.pk}")

    assert response.status_code == 404
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("rep", {"own"}),
        ("partner", {"partner_contact"}),
        ("other_partner", {"other_partner_contact"}),
        ("agent", {"own", "other_team", "partner_contact", "other_partner_contact"}),
    ],
)
def test_lists_show_only_the_contacts_the_caller_may_see(world, api_for, records, role, visible):
    response = api_for(getattr(world, role)).get(URL, {"count": "true"})

    ids = {c["id"] for c in response.json()["results"]}
    assert ids == {getattr(records, name).pk for name in visible}
    assert response.json()["count"] == len(visible)


@pytest.mark.parametrize("q", ["Otto", "hidden", "otto@hidden.example", "Oskar", "Elsewhere", "elsewhere.example"])
def test_search_never_finds_hidden_contacts_for_a_rep_or_partner(world, api_for, records, q):
    admin_hits = api_for(world.admin).get(URL, {"q": q}).json()["results"]
    assert admin_hits, "the admin, who sees everything, finds it"

    for user in (world.rep, world.partner):
        assert api_for(user).get(URL, {"q": q}).json()["results"] == []


def test_a_partner_files_contacts_only_under_their_organisations_accounts(world, api_for, records):
    api = api_for(world.partner)

    without = api.post(URL, {"first_name": "New"})
    elsewhere = api.post(URL, {"first_name": "New", "account_id": records.other_shared.pk})
    shared = api.post(URL, {"first_name": "New", "account_id": records.shared.pk})

    assert (without.status_code, field_errors(without)) == (422, ["account_id"])
    assert (elsewhere.status_code, field_errors(elsewhere)) == (422, ["account_id"])
    assert elsewhere.json()["errors"][0]["message"] == f"no account with id {records.other_shared.pk}."
    assert shared.status_code == 201
    assert api.get(f"{URL}/{shared.json()['id']}").status_code == 200


def test_a_read_only_token_can_read_but_not_write(world, api_for, records):
    api = api_for(world.admin, ApiToken.Scope.READ)
    message = "This API token is read-only; create one with --scope write to make changes."

    responses = [
        api.post(URL, {"first_name": "New"}),
        api.patch(f"{URL}/{records.own.pk}", {"first_name": "Changed"}),
        api.delete(f"{URL}/{records.own.pk}"),
        api.post(f"{URL}/bulk", {"records": [{"email": "new@example.org"}]}),
    ]

    assert api.get(f"{URL}/{records.own.pk}").status_code == 200
    assert [(r.status_code, r.json()["code"], r.json()["message"]) for r in responses] == [
        (403, "forbidden", message)
    ] * 4
    assert Contact.objects.count() == 4
    records.own.refresh_from_db()
    assert (records.own.first_name, records.own.deleted_at) == ("Olga", None)


# --- Lists: filters, ordering, paging -----------------------------------------------------------------


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["results"]]


def test_filters_narrow_the_list(world, api_for, records):
    api = api_for(world.admin)
    vip = Tag.objects.create(name="VIP", key="vip")
    beta = Tag.objects.create(name="beta", key="beta")
    records.own.tags.add(vip, beta)
    records.other_team.tags.add(vip)
    Contact.objects.filter(pk=records.own.pk).update(
        lifecycle_stage="customer", country="DE", seniority="vp", consent_email="granted"
    )
    Contact.objects.filter(pk=records.other_team.pk).update(country="FR")

    assert ids_of(api.get(URL, {"stage": "customer"})) == [records.own.pk]
    assert set(ids_of(api.get(URL, {"stage": "customer,lead"}))) == {
        records.own.pk,
        records.other_team.pk,
        records.partner_contact.pk,
        records.other_partner_contact.pk,
    }
    assert ids_of(api.get(URL, {"country": "Germany"})) == [records.own.pk]
    assert set(ids_of(api.get(URL, {"country": ["de", "FR"]}))) == {records.own.pk, records.other_team.pk}
    assert ids_of(api.get(URL, {"seniority": "vp"})) == [records.own.pk]
    assert ids_of(api.get(URL, {"consent_email": "granted"})) == [records.own.pk]
    assert set(ids_of(api.get(URL, {"tag": "vip"}))) == {records.own.pk, records.other_team.pk}
    assert ids_of(api.get(URL, {"tag": ["VIP", "beta"]})) == [records.own.pk]
    assert ids_of(api.get(URL, {"account": records.shared.pk})) == [records.partner_contact.pk]
    assert ids_of(api.get(URL, {"owner": "none"})) == [records.other_partner_contact.pk]
    assert ids_of(api.get(URL, {"owner": world.rep.pk})) == [records.own.pk]
    assert ids_of(api_for(world.rep).get(URL, {"owner": "me"})) == [records.own.pk]


def test_search_finds_by_name_email_company_domain_and_phone(world, api_for, records):
    api = api_for(world.admin)
    Contact.objects.filter(pk=records.own.pk).update(phone="+4930123456")

    assert ids_of(api.get(URL, {"q": "olg"})) == [records.own.pk]
    assert ids_of(api.get(URL, {"q": "Hidd"})) == [records.other_team.pk]
    assert ids_of(api.get(URL, {"q": "paula@shared"})) == [records.partner_contact.pk]
    assert ids_of(api.get(URL, {"q": "Shared"})) == [records.partner_contact.pk]
    assert ids_of(api.get(URL, {"q": "elsewhere.exa"})) == [records.other_partner_contact.pk]
    assert ids_of(api.get(URL, {"q": "+49 30 123456"})) == [records.own.pk]
    assert ids_of(api.get(URL, {"q": "nobody-like-this"})) == []


def test_updated_since_returns_contacts_changed_at_or_after_the_time(world, api_for, records):
    old = timezone.make_aware(dt.datetime(2024, 1, 1, 12, 0))
    Contact.objects.exclude(pk=records.own.pk).update(updated_at=old)
    Contact.objects.filter(pk=records.own.pk).update(updated_at=old + dt.timedelta(days=30))
    api = api_for(world.admin)

    assert ids_of(api.get(URL, {"updated_since": "2024-01-15"})) == [records.own.pk]
    assert ids_of(api.get(URL, {"updated_since": "2024-01-31T12:00:00Z"})) == [records.own.pk]
    assert ids_of(api.get(URL, {"updated_since": "2024-01-31T12:00:01+00:00"})) == []
    assert len(ids_of(api.get(URL, {"updated_since": "2024-01-01T12:00:00Z"}))) == 4


def test_custom_field_filters_match_by_type(world, api_for, records):
    custom_field("language", CustomField.FieldType.TEXT)
    custom_field("employees", CustomField.FieldType.NUMBER)
    custom_field("newsletter", CustomField.FieldType.BOOLEAN)
    custom_field("tier", CustomField.FieldType.CHOICE, ["Gold", "Silver"])
    custom_field("products", CustomField.FieldType.MULTI_CHOICE, ["CRM", "Mail"])
    admin_api = api_for(world.admin)
    admin_api.patch(
        f"{URL}/{records.own.pk}",
        {"custom": {"language": "de", "employees": 50, "newsletter": True, "tier": "Gold", "products": ["CRM"]}},
    )
    admin_api.patch(
        f"{URL}/{records.other_team.pk}",
        {"custom": {"language": "fr", "employees": 7, "newsletter": False, "tier": "Silver", "products": ["Mail"]}},
    )

    assert ids_of(admin_api.get(URL, {"cf.language": "DE"})) == [records.own.pk]
    assert ids_of(admin_api.get(URL, {"cf.employees": "50"})) == [records.own.pk]
    assert ids_of(admin_api.get(URL, {"cf.newsletter": "false"})) == [records.other_team.pk]
    assert ids_of(admin_api.get(URL, {"cf.tier": "silver"})) == [records.other_team.pk]
    assert ids_of(admin_api.get(URL, {"cf.products": "CRM"})) == [records.own.pk]
    assert ids_of(admin_api.get(URL, {"cf.language": "de", "cf.employees": "7"})) == []
    assert ids_of(api_for(world.rep).get(URL, {"cf.tier": "Silver"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "hot"}, "stage"),
        ({"owner": "somebody"}, "owner"),
        ({"owner": "²"}, "owner"),
        ({"owner": "9" * 30}, "owner"),
        ({"account": "acme"}, "account"),
        ({"account": "9" * 30}, "account"),
        ({"country": "Narnia"}, "country"),
        ({"seniority": "boss"}, "seniority"),
        ({"consent_email": "maybe"}, "consent_email"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-13-01T00:00:00"}, "updated_since"),
        ({"updated_since": "2026-02-30"}, "updated_since"),
        ({"ordering": "age"}, "ordering"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"count": "maybe"}, "count"),
        ({"cf.shoe_size": "42"}, "cf.shoe_size"),
        ({"stage ": "lead"}, "stage "),
        ({"sort": "name"}, "sort"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_bad_list_parameters_are_refused_with_422_naming_them(world, api_for, records, params, field):
    response = api_for(world.admin).get(URL, params)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert field_errors(response) == [field]


def test_an_unknown_parameter_is_named_with_the_known_ones(world, api_for):
    response = api_for(world.admin).get(URL, {"stages": "lead"})

    assert response.json()["errors"] == [
        {
            "field": "stages",
            "message": "is not a parameter of this list; use account, consent_email, count, country, cursor, limit, "
            "ordering, owner, q, seniority, stage, tag, updated_since or cf.<key>.",
        }
    ]


@pytest.mark.parametrize("value", ["many", "nan", "inf", "-Infinity", "1e400"])
def test_a_number_custom_field_filter_needs_a_finite_number(world, api_for, value):
    custom_field("employees", CustomField.FieldType.NUMBER)

    response = api_for(world.admin).get(URL, {"cf.employees": value})

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "cf.employees", "message": "must be a number."}]


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "ordering"),
    [
        ("not a cursor!", "name"),
        ("e30", "name"),  # {}
        (_cursor(["a", "b"]), "name"),  # too short for name ordering
        (_cursor(["a", "b", "c"]), "name"),  # id not a number
        (_cursor(["a", "b", 2**70]), "name"),  # id out of range
        (_cursor(["a", "b", True]), "name"),
        (_cursor(["not a time", 1]), "created_at"),
        (_cursor(["2026-13-01T00:00:00", 1]), "-updated_at"),
        (_cursor([{"x": 1}, 1]), "email"),
        (_cursor([None, None, 1]), "-name"),
    ],
)
def test_a_bad_cursor_is_a_422(world, api_for, records, cursor, ordering):
    response = api_for(world.admin).get(URL, {"cursor": cursor, "ordering": ordering})

    assert response.status_code == 422
    assert field_errors(response) == ["cursor"]


def test_a_cursor_from_another_ordering_is_a_422(world, api_for, records):
    api = api_for(world.admin)
    cursor = api.get(URL, {"limit": 1, "ordering": "name"}).json()["next_cursor"]

    response = api.get(URL, {"limit": 1, "ordering": "email", "cursor": cursor})

    assert response.status_code == 422
    assert field_errors(response) == ["cursor"]


def _make_contacts_with_ties(world) -> list[Contact]:
    """Eleven contacts whose names, emails and times tie in places, so paging must break ties by id."""
    base = timezone.make_aware(dt.datetime(2025, 5, 1, 9, 0))
    contacts = []
    for i in range(11):
        contact = ContactFactory(
            first_name=["Ann", "Bob", "Ann"][i % 3],
            last_name=["Meyer", "Adams", "Meyer", "Zorn"][i % 4],
            email="" if i % 5 == 0 else f"c{i % 7}{i}@example.org",
            owner=world.rep if i % 2 else None,
        )
        contacts.append(contact)
    for i, contact in enumerate(contacts):
        Contact.objects.filter(pk=contact.pk).update(
            created_at=base + dt.timedelta(minutes=i // 3), updated_at=base + dt.timedelta(seconds=(i * 7) % 4)
        )
    return list(Contact.objects.all())


ORDER_KEYS = {
    "name": lambda c: (c.last_name_key, c.first_name_key, c.id),
    "email": lambda c: (c.email, c.id),
    "created_at": lambda c: (c.created_at, c.id),
    "updated_at": lambda c: (c.updated_at, c.id),
}


@pytest.mark.parametrize(
    "ordering", ["name", "-name", "email", "-email", "created_at", "-created_at", "updated_at", "-updated_at"]
)
def test_cursor_paging_walks_every_contact_exactly_once_in_order(world, api_for, ordering):
    contacts = _make_contacts_with_ties(world)
    expected = [c.id for c in sorted(contacts, key=ORDER_KEYS[ordering.lstrip("-")], reverse=ordering.startswith("-"))]
    api = api_for(world.admin)

    seen: list[int] = []
    pages = 0
    cursor = None
    while True:
        params = {"ordering": ordering, "limit": 4, **({"cursor": cursor} if cursor else {})}
        body = api.get(URL, params).json()
        seen += [c["id"] for c in body["results"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3


def test_ordering_by_name_sorts_by_last_then_first_name_ignoring_case_and_accents(world, api_for):
    zoe = ContactFactory(first_name="Zoë", last_name="Ärmel")
    adam = ContactFactory(first_name="adam", last_name="armel")
    bea = ContactFactory(first_name="Bea", last_name="Baker")
    api = api_for(world.admin)

    assert ids_of(api.get(URL)) == [adam.pk, zoe.pk, bea.pk]
    assert ids_of(api.get(URL, {"ordering": "-name"})) == [bea.pk, zoe.pk, adam.pk]


def test_limit_caps_the_page_and_count_is_only_given_when_asked(world, api_for, records):
    api = api_for(world.admin)

    first = api.get(URL, {"limit": 3}).json()
    counted = api.get(URL, {"limit": 3, "count": "true"}).json()

    assert len(first["results"]) == 3
    assert first["next_cursor"] is not None
    assert "count" not in first
    assert (counted["count"], counted["count_capped"]) == (4, False)


def test_the_default_page_size_is_50(world, api_for):
    ContactFactory.create_batch(51)

    body = api_for(world.admin).get(URL).json()

    assert len(body["results"]) == settings.API_PAGE_SIZE_DEFAULT == 50
    assert body["next_cursor"] is not None


def _populate(world, n: int) -> None:
    """n contacts with owners, accounts and two tags each."""
    tags = [Tag.objects.get_or_create(key=k, defaults={"name": k})[0] for k in ("alpha", "beta", "gamma")]
    owners = [world.rep, world.teammate, UserFactory(role="sales_rep")]
    for i in range(n):
        account = AccountFactory(
            owner=owners[i % 3], partner_organisation=world.partner.partner_organisation if i % 2 else None
        )
        contact = ContactFactory(owner=owners[i % 3], account=account)
        contact.tags.add(tags[i % 3], tags[(i + 1) % 3])


# Token, (a rep's team and territories,) the tag's size (to choose how to filter by it), the page, its tags.
@pytest.mark.parametrize(("role", "bound"), [("admin", 4), ("rep", 6), ("partner", 4)])
def test_the_list_costs_a_fixed_number_of_queries_whatever_its_length(
    world, api_for, django_assert_max_num_queries, role, bound
):
    api = api_for(getattr(world, role))
    api.get(URL)  # the token's first use also records its last-use time
    counts = []
    for n in (3, 30):
        _populate(world, n if n == 3 else n - 3)
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(bound):
            response = api.get(URL, {"limit": 100, "q": "", "ordering": "-updated_at", "tag": "beta"})
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- Bulk ---------------------------------------------------------------------------------------------

BULK = f"{URL}/bulk"


def test_bulk_stores_good_records_and_reports_bad_ones_by_index_and_field(world, api_for):
    response = api_for(world.admin).post(
        BULK,
        {
            "records": [
                {"email": "ann@example.org", "first_name": "Ann", "tags": ["import"]},
                {"email": "not-an-email", "first_name": "Bad"},
                {"email": "bob@example.org", "first_name": 5},
                {"email": "cy@example.org", "nickname": "Cy"},
                {"email": "dee@example.org", "phone": "12"},
                "a string",
                {"first_name": "No email"},
                {"email": "eve@example.org", "consent": {"email": "granted"}},
            ]
        },
    )

    assert response.status_code == 200
    body = response.json()
    ann = Contact.objects.get(email="ann@example.org")
    eve = Contact.objects.get(email="eve@example.org")
    assert (body["created"], body["updated"], body["skipped"], body["rejected"]) == (2, 0, 0, 6)
    assert [(r["index"], r["status"], r["id"], [e["field"] for e in r["errors"]]) for r in body["results"]] == [
        (0, "created", ann.pk, []),
        (1, "rejected", None, ["email"]),
        (2, "rejected", None, ["first_name"]),
        (3, "rejected", None, ["nickname"]),
        (4, "rejected", None, ["phone"]),
        (5, "rejected", None, ["record"]),
        (6, "rejected", None, ["email"]),
        (7, "created", eve.pk, []),
    ]
    assert body["results"][6]["errors"][0]["message"] == "is needed to match records (match_on is email)."
    assert Contact.objects.count() == 2
    assert list(ann.tags.values_list("name", flat=True)) == ["import"]
    assert eve.consent_email == "granted"


def test_a_retried_bulk_call_creates_nothing_new(world, api_for):
    api = api_for(world.admin)
    payload = {"records": [{"email": f"p{i}@example.org", "first_name": f"P{i}"} for i in range(5)]}

    first = api.post(BULK, payload).json()
    again = api.post(BULK, payload).json()

    assert (first["created"], first["skipped"]) == (5, 0)
    assert (again["created"], again["updated"], again["skipped"], again["rejected"]) == (0, 0, 5, 0)
    assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]
    assert Contact.objects.count() == 5
    assert set(Contact.objects.values_list("version", flat=True)) == {1}


def test_bulk_updates_matching_contacts_and_creates_the_rest(world, api_for, records):
    response = api_for(world.admin).post(
        BULK,
        {
            "records": [
                {"email": "OLGA@own.example", "job_title": "CEO"},
                {"email": "new@example.org", "first_name": "New"},
                {"email": "new@example.org", "last_name": "Twice"},
            ]
        },
        HTTP_X_DATA_SOURCE="second:Acme Partner",
    )

    body = response.json()
    assert [(r["status"], r["id"]) for r in body["results"]] == [
        ("updated", records.own.pk),
        ("created", body["results"][1]["id"]),
        ("updated", body["results"][1]["id"]),
    ]
    assert (body["created"], body["updated"]) == (1, 2)
    records.own.refresh_from_db()
    assert (records.own.job_title, records.own.seniority, records.own.version) == ("CEO", "c_level", 2)
    provenance = api_for(world.admin).get(f"{URL}/{records.own.pk}").json()["provenance"]
    assert (provenance["job_title"]["party"], provenance["job_title"]["source"]) == ("second", "Acme Partner")
    new = Contact.objects.get(email="new@example.org")
    assert (new.first_name, new.last_name) == ("New", "Twice")


def test_bulk_create_mode_leaves_existing_contacts_and_update_mode_creates_none(world, api_for, records):
    api = api_for(world.admin)

    created = api.post(BULK, {"mode": "create", "records": [{"email": "olga@own.example", "first_name": "X"}]}).json()
    updated = api.post(BULK, {"mode": "update", "records": [{"email": "nobody@example.org", "first_name": "X"}]}).json()

    assert [(r["status"], r["id"]) for r in created["results"]] == [("skipped", records.own.pk)]
    assert [(r["status"], r["id"]) for r in updated["results"]] == [("skipped", None)]
    assert Contact.objects.count() == 4
    records.own.refresh_from_db()
    assert records.own.first_name == "Olga"


def test_bulk_matches_on_external_id(world, api_for):
    api = api_for(world.admin)
    api.post(BULK, {"match_on": "external_id", "records": [{"external_id": "x-1", "first_name": "Ann"}]})

    body = api.post(BULK, {"match_on": "external_id", "records": [{"external_id": "x-1", "last_name": "Lee"}]}).json()

    assert body["updated"] == 1
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.external_id) == ("Ann", "Lee", "x-1")


def test_bulk_refuses_more_than_1000_records(world, api_for):
    records_ = [{"email": f"p{i}@example.org"} for i in range(1001)]

    response = api_for(world.admin).post(BULK, {"records": records_})

    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid",
        "message": "A bulk call takes at most 1,000 records; this one has 1,001. Send them in several calls.",
        "errors": [{"field": "records", "message": "has 1,001 records; the most is 1,000."}],
    }
    assert Contact.objects.count() == 0


def test_bulk_accepts_exactly_1000_records(world, api_for):
    response = api_for(world.admin).post(BULK, {"records": [{"email": f"p{i}@example.org"} for i in range(1000)]})

    assert (response.status_code, response.json()["created"]) == (200, 1000)
    assert Contact.objects.count() == 1000


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"records": [], "match_on": "name"}, "match_on"),
        ({"records": [], "mode": "merge"}, "mode"),
        ({"records": {}}, "records"),
        ({"contacts": []}, "records"),
        ({"records": [], "dry_run": True}, "dry_run"),
    ],
)
def test_a_malformed_bulk_call_is_refused_as_a_whole(world, api_for, payload, field):
    response = api_for(world.admin).post(BULK, payload)

    assert response.status_code == 422
    assert field in field_errors(response)


def test_partner_bulk_creates_under_shared_accounts_and_rejects_hidden_matches(world, api_for, records):
    response = api_for(world.partner).post(
        BULK,
        {
            "records": [
                {"email": "otto@hidden.example", "first_name": "Taken over"},
                {"email": "paula@shared.example", "job_title": "Buyer"},
                {"email": "new@partner.example", "first_name": "New", "account_id": records.shared.pk},
                {"email": "loose@partner.example", "first_name": "Loose"},
                {"email": "sneaky@partner.example", "account_id": records.other_shared.pk},
            ]
        },
    )

    results = response.json()["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, "rejected"),
        (1, "updated"),
        (2, "created"),
        (3, "rejected"),
        (4, "rejected"),
    ]
    assert [e["field"] for e in results[0]["errors"]] == ["email"]
    assert [e["field"] for e in results[3]["errors"]] == ["account_id"]
    assert [e["field"] for e in results[4]["errors"]] == ["account_id"]
    records.other_team.refresh_from_db()
    assert (records.other_team.first_name, records.other_team.version) == ("Otto", 1)
    records.partner_contact.refresh_from_db()
    assert records.partner_contact.job_title == "Buyer"
    assert Contact.objects.get(email="new@partner.example").account_id == records.shared.pk
    assert not Contact.objects.filter(email__in=["loose@partner.example", "sneaky@partner.example"]).exists()


def test_rep_bulk_rejects_records_matching_contacts_they_cannot_see(world, api_for, records):
    response = api_for(world.rep).post(
        BULK,
        {
            "records": [
                {"email": "otto@hidden.example", "job_title": "Gone"},
                {"email": "olga@own.example", "job_title": "CFO"},
            ]
        },
    )

    assert [r["status"] for r in response.json()["results"]] == ["rejected", "updated"]
    records.other_team.refresh_from_db()
    assert records.other_team.job_title == ""
