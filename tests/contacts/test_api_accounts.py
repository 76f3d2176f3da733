"""The accounts REST API over HTTP: CRUD, validation, access, locking, lists, paging and bulk."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rapport.contacts import services
from rapport.contacts.models import Account, Contact, CustomField, LifecycleChange
from rapport.core.models import ApiToken, AuditEntry
from tests.factories import AccountFactory, ContactFactory

URL = "/api/v1/accounts"
BULK = f"{URL}/bulk"

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(world):
    """Accounts owned by the rep and another team's rep, unowned in the rep's territory, and partner-shared ones."""
    dach = world.rep.territories.get()
    return SimpleNamespace(
        rep_account=AccountFactory(name="Rep Corp", domain="repcorp.example", owner=world.rep),
        other_team=AccountFactory(name="Hidden Industries", domain="hidden.example", owner=world.other_rep),
        unowned_dach=AccountFactory(name="Berlin Bau", domain="berlinbau.example", country="DE", territory=dach),
        shared=AccountFactory(
            name="Shared GmbH", domain="shared.example", partner_organisation=world.partner.partner_organisation
        ),
        other_shared=AccountFactory(
            name="Elsewhere Ltd",
            domain="elsewhere.example",
            partner_organisation=world.other_partner.partner_organisation,
        ),
    )


def field_errors(response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def ids_of(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [a["id"] for a in response.json()["results"]]


# --- Create, read, update -----------------------------------------------------------------------------


def test_create_normalises_values_and_answers_the_whole_account(world, api_for):
    response = api_for(world.admin).post(
        URL,
        {
            "name": "Acme GmbH",
            "domain": "https://www.Acme.com/about",
            "industry": "Machinery",
            "size_band": "51-200",
            "annual_revenue": "1250000.5",
            "currency": "eur",
            "country": "Germany",
            "city": "Berlin",
            "lifecycle_stage": "customer",
            "external_id": "sf-001",
        },
    )

    assert response.status_code == 201
    body = response.json()
    account = Account.objects.get()
    assert response["ETag"] == '"1"'
    assert {k: v for k, v in body.items() if k not in ("created_at", "updated_at", "provenance")} == {
        "id": account.pk,
        "name": "Acme GmbH",
        "domain": "acme.com",
        "industry": "Machinery",
        "size_band": "51-200",
        "annual_revenue": "1250000.50",
        "currency": "EUR",
        "country": "DE",
        "region": "",
        "city": "Berlin",
        "owner_id": None,
        "territory_id": world.rep.territories.get().pk,
        "partner_organisation_id": None,
        "parent_id": None,
        "lifecycle_stage": "customer",
        "external_id": "sf-001",
        "custom": {},
        "version": 1,
    }
    assert (body["provenance"]["domain"]["party"], body["provenance"]["domain"]["source"]) == ("first", "API: Admin")
    assert AuditEntry.objects.get(object_type="account", object_id=account.pk).via == "api"
    assert list(LifecycleChange.objects.filter(account=account).values_list("from_stage", "to_stage")) == [
        ("", "customer")
    ]


def test_read_returns_the_account_and_its_etag(world, api_for):
    api = api_for(world.admin)
    created = api.post(URL, {"name": "Acme", "annual_revenue": 1000}).json()

    response = api.get(f"{URL}/{created['id']}")

    assert response.json() == created
    assert response.json()["annual_revenue"] == "1000.00"
    assert response["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("1234567890123.45", "1234567890123.45"), (9876543210, "9876543210.00"), (0.1, "0.10"), ("7.499", "7.50")],
)
def test_annual_revenue_is_kept_to_the_cent(world, api_for, sent, stored):
    api = api_for(world.admin)

    response = api.post(URL, {"name": "Acme", "annual_revenue": sent})

    assert response.json()["annual_revenue"] == stored
    assert api.get(URL).json()["results"][0]["annual_revenue"] == stored


def test_the_largest_revenue_allowed_can_be_stored_and_listed(world, api_for):
    api = api_for(world.admin)

    response = api.post(URL, {"name": "Acme", "annual_revenue": "999999999999999.99"})

    assert response.status_code == 201
    assert api.get(URL).status_code == 200


@pytest.mark.parametrize("sent", ["1000000000000000", 9999999999999998, "1e15", "1e999999", -1])
def test_a_revenue_beyond_what_every_database_can_store_is_refused(world, api_for, sent):
    # On SQLite such an amount used to be stored and then break every account list (500).
    api = api_for(world.admin)

    response = api.post(URL, {"name": "Acme", "annual_revenue": sent})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["annual_revenue"]
    assert api.get(URL).status_code == 200


def test_a_rep_creating_an_account_becomes_its_owner(world, api_for):
    assert api_for(world.rep).post(URL, {"name": "Mine"}).json()["owner_id"] == world.rep.pk


def test_a_partners_new_account_is_shared_with_their_organisation(world, api_for, accounts):
    api = api_for(world.partner)

    own = api.post(URL, {"name": "Partner Client"})
    elsewhere = api.post(
        URL, {"name": "Sneaky", "partner_organisation_id": world.other_partner.partner_organisation_id}
    )

    assert own.status_code == 201
    assert own.json()["partner_organisation_id"] == world.partner.partner_organisation_id
    assert (elsewhere.status_code, field_errors(elsewhere)) == (422, ["partner_organisation_id"])


def test_patch_changes_only_the_given_fields(world, api_for):
    api = api_for(world.admin)
    created = api.post(URL, {"name": "Acme", "domain": "acme.com", "annual_revenue": "10"}).json()

    response = api.patch(f"{URL}/{created['id']}", {"industry": "Retail", "annual_revenue": None})

    body = response.json()
    assert {k for k in body if body[k] != created[k]} == {
        "industry",
        "annual_revenue",
        "version",
        "updated_at",
        "provenance",
    }
    assert (body["industry"], body["annual_revenue"], body["version"]) == ("Retail", None, 2)


def test_two_patches_with_the_same_if_match_one_succeeds_and_one_conflicts(world, api_for):
    api = api_for(world.admin)
    account_id = api.post(URL, {"name": "Acme"}).json()["id"]

    first = api.patch(f"{URL}/{account_id}", {"city": "Paris"}, HTTP_IF_MATCH='"1"')
    second = api.patch(f"{URL}/{account_id}", {"city": "Rome"}, HTTP_IF_MATCH='"1"')

    assert (first.status_code, first.json()["version"]) == (200, 2)
    assert (second.status_code, second.json()["code"]) == (409, "conflict")
    assert Account.objects.get().city == "Paris"


def test_an_account_cannot_become_its_own_ancestor(world, api_for):
    api = api_for(world.admin)
    parent = api.post(URL, {"name": "Parent"}).json()["id"]
    child = api.post(URL, {"name": "Child", "parent_id": parent}).json()["id"]

    itself = api.patch(f"{URL}/{parent}", {"parent_id": parent})
    cycle = api.patch(f"{URL}/{parent}", {"parent_id": child})

    assert (itself.status_code, field_errors(itself)) == (422, ["parent_id"])
    assert (cycle.status_code, field_errors(cycle)) == (422, ["parent_id"])
    assert Account.objects.get(pk=parent).parent_id is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"name": "A", "size_band": "huge"}, "size_band"),
        ({"name": "A", "annual_revenue": "lots"}, "annual_revenue"),
        ({"name": "A", "annual_revenue": -5}, "annual_revenue"),
        ({"name": "A", "annual_revenue": "NaN"}, "annual_revenue"),
        ({"name": "A", "annual_revenue": 1e20}, "annual_revenue"),
        ({"name": "A", "currency": "EURO"}, "currency"),
        ({"name": "A", "country": "Atlantis"}, "country"),
        ({"name": "A", "domain": "not a domain"}, "domain"),
        ({"name": "A", "parent_id": 987654}, "parent_id"),
        ({"name": "A", "partner_organisation_id": 987654}, "partner_organisation_id"),
        ({"name": "A", "owner_id": "me"}, "owner_id"),
        ({"name": "A", "employees": 5}, "employees"),
        ({"name": "A", "custom": {"tier": "Gold"}}, "custom.tier"),
    ],
)
def test_invalid_input_is_refused_with_422_naming_the_field(world, api_for, body, field):
    response = api_for(world.admin).post(URL, body)

    assert response.status_code == 422
    assert field_errors(response) == [field]
    assert Account.objects.count() == 0


def test_a_parent_the_caller_cannot_see_is_refused_like_one_that_does_not_exist(world, api_for, accounts):
    response = api_for(world.rep).post(URL, {"name": "Child", "parent_id": accounts.other_team.pk})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "parent_id", "message": f"no account with id {accounts.other_team.pk}."}
    ]


def test_a_duplicate_external_id_is_a_409_naming_the_existing_account_only_if_visible(world, api_for, accounts):
    Account.objects.filter(pk=accounts.other_team.pk).update(external_id="ext-9")

    by_admin = api_for(world.admin).post(URL, {"name": "Copy", "external_id": "ext-9"})
    by_rep = api_for(world.rep).post(URL, {"name": "Copy", "external_id": "ext-9"})

    assert (by_admin.status_code, by_admin.json()["existing_id"]) == (409, accounts.other_team.pk)
    assert by_rep.status_code == 409
    assert "existing_id" not in by_rep.json()


# --- Delete and access --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "marketer", "manager"])
def test_roles_that_may_delete_soft_delete_an_account_and_keep_its_contacts(world, api_for, accounts, role):
    contact = ContactFactory(account=accounts.rep_account)

    response = api_for(getattr(world, role)).delete(f"{URL}/{accounts.rep_account.pk}")

    assert response.status_code == 204
    assert Account.all_objects.get(pk=accounts.rep_account.pk).deleted_at is not None
    assert not Account.objects.filter(pk=accounts.rep_account.pk).exists()
    assert Contact.objects.filter(pk=contact.pk).exists()


@pytest.mark.parametrize(("role", "account"), [("agent", "rep_account"), ("rep", "rep_account"), ("partner", "shared")])
def test_roles_without_the_delete_capability_get_403(world, api_for, accounts, role, account):
    record = getattr(accounts, account)

    response = api_for(getattr(world, role)).delete(f"{URL}/{record.pk}")

    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert Account.objects.filter(pk=record.pk).exists()


HIDDEN = [
    ("rep", "other_team"),
    ("rep", "shared"),
    ("partner", "rep_account"),
    ("partner", "other_shared"),
    ("other_partner", "shared"),
]


@pytest.mark.parametrize(("role", "account"), HIDDEN)
def test_a_hidden_account_is_404_to_read_change_and_delete(world, api_for, accounts, role, account):
    record = getattr(accounts, account)
    api = api_for(getattr(world, role))

    read = api.get(f"{URL}/{record.pk}")
    change = api.patch(f"{URL}/{record.pk}", {"name": "Hijacked"})
    delete = api.delete(f"{URL}/{record.pk}")

    assert [read.status_code, change.status_code, delete.status_code] == [404, 404, 404]
    assert read.json() == {"code": "not_found", "message": f"No account with id {record.pk}.", "errors": []}
    record.refresh_from_db()
    assert (record.name != "Hijacked", record.deleted_at, record.version) == (True, None, 1)


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("rep", {"rep_account", "unowned_dach"}),
        ("partner", {"shared"}),
        ("other_partner", {"other_shared"}),
        ("manager", {"rep_account", "other_team", "unowned_dach", "shared", "other_shared"}),
    ],
)
def test_lists_and_search_show_only_visible_accounts(world, api_for, accounts, role, visible):
    api = api_for(getattr(world, role))

    listed = set(ids_of(api.get(URL)))
    found = set(ids_of(api.get(URL, {"q": "hidden"}))) | set(ids_of(api.get(URL, {"q": "shared.example"})))

    assert listed == {getattr(accounts, name).pk for name in visible}
    assert found == listed & {accounts.other_team.pk, accounts.shared.pk}


def test_a_read_only_token_cannot_write(world, api_for, accounts):
    api = api_for(world.admin, ApiToken.Scope.READ)

    statuses = [
        api.post(URL, {"name": "New"}).status_code,
        api.patch(f"{URL}/{accounts.shared.pk}", {"name": "Changed"}).status_code,
        api.delete(f"{URL}/{accounts.shared.pk}").status_code,
        api.post(BULK, {"records": [{"name": "New", "domain": "new.example"}]}).status_code,
    ]

    assert statuses == [403, 403, 403, 403]
    assert Account.objects.count() == 5
    assert Account.objects.get(pk=accounts.shared.pk).name == "Shared GmbH"


# --- Lists --------------------------------------------------------------------------------------------


def test_filters_narrow_the_list(world, api_for, accounts):
    api = api_for(world.admin)
    Account.objects.filter(pk=accounts.shared.pk).update(
        industry="Retail", size_band="51-200", lifecycle_stage="customer", country="FR"
    )
    services.custom_field_save(
        actor=None, object_type="account", key="tier", label="Tier", field_type="choice", choices=["Gold", "Silver"]
    )
    api.patch(f"{URL}/{accounts.other_team.pk}", {"custom": {"tier": "Gold"}})

    assert ids_of(api.get(URL, {"industry": "retail"})) == [accounts.shared.pk]
    assert ids_of(api.get(URL, {"size_band": "51-200"})) == [accounts.shared.pk]
    assert ids_of(api.get(URL, {"stage": "customer"})) == [accounts.shared.pk]
    assert ids_of(api.get(URL, {"country": "fr"})) == [accounts.shared.pk]
    assert ids_of(api.get(URL, {"owner": world.rep.pk})) == [accounts.rep_account.pk]
    assert ids_of(api.get(URL, {"cf.tier": "gold"})) == [accounts.other_team.pk]
    assert ids_of(api_for(world.rep).get(URL, {"owner": "me"})) == [accounts.rep_account.pk]
    assert ids_of(api.get(URL, {"q": "berlin"})) == [accounts.unowned_dach.pk]
    assert ids_of(api.get(URL, {"q": "repcorp.exa"})) == [accounts.rep_account.pk]


def test_updated_since_returns_accounts_changed_at_or_after_the_time(world, api_for, accounts):
    old = timezone.make_aware(dt.datetime(2024, 3, 1))
    Account.objects.update(updated_at=old)
    Account.objects.filter(pk=accounts.shared.pk).update(updated_at=old + dt.timedelta(hours=1))

    response = api_for(world.admin).get(URL, {"updated_since": "2024-03-01T00:30:00Z"})

    assert ids_of(response) == [accounts.shared.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"tag": "vip"}, "tag"),  # a contact filter, not an account one
        ({"seniority": "vp"}, "seniority"),
        ({"size_band": "huge"}, "size_band"),
        ({"ordering": "email"}, "ordering"),
        ({"updated_since": "last week"}, "updated_since"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"limit": "1000"}, "limit"),
        ({"cf.tier": "Gold"}, "cf.tier"),
    ],
)
def test_bad_list_parameters_are_refused_with_422(world, api_for, accounts, params, field):
    response = api_for(world.admin).get(URL, params)

    assert response.status_code == 422
    assert field_errors(response) == [field]


@pytest.mark.parametrize("ordering", ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"])
def test_cursor_paging_walks_every_account_exactly_once_in_order(world, api_for, ordering):
    base = timezone.make_aware(dt.datetime(2025, 1, 1))
    for i in range(9):
        account = AccountFactory(name=["Beta", "alpha", "Gamma"][i % 3])
        Account.objects.filter(pk=account.pk).update(
            created_at=base + dt.timedelta(days=i // 2), updated_at=base + dt.timedelta(hours=i % 3)
        )
    keys = {
        "name": lambda a: (a.name_key, a.id),
        "created_at": lambda a: (a.created_at, a.id),
        "updated_at": lambda a: (a.updated_at, a.id),
    }
    expected = [
        a.id for a in sorted(Account.objects.all(), key=keys[ordering.lstrip("-")], reverse=ordering.startswith("-"))
    ]
    api = api_for(world.admin)

    seen: list[int] = []
    cursor = None
    while True:
        body = api.get(URL, {"ordering": ordering, "limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [a["id"] for a in body["results"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == expected


def test_count_is_given_only_when_asked(world, api_for, accounts):
    api = api_for(world.rep)

    assert "count" not in api.get(URL).json()
    assert api.get(URL, {"count": "1"}).json()["count"] == 2


@pytest.mark.parametrize(("role", "bound"), [("admin", 3), ("rep", 5), ("partner", 3)])
def test_the_list_costs_a_fixed_number_of_queries_whatever_its_length(
    world, api_for, django_assert_max_num_queries, role, bound
):
    api = api_for(getattr(world, role))
    api.get(URL)  # the token's first use also records its last-use time
    owners = [world.rep, world.teammate, world.other_rep]
    counts = []
    for n in (3, 27):
        for i in range(n):
            parent = AccountFactory(owner=owners[i % 3]) if i % 4 == 0 else None
            AccountFactory(
                owner=owners[i % 3],
                parent=parent,
                partner_organisation=world.partner.partner_organisation if i % 2 else None,
            )
        with CaptureQueriesContext(connection) as queries, django_assert_max_num_queries(bound):
            response = api.get(URL, {"limit": 100, "ordering": "-created_at"})
        assert response.status_code == 200
        assert response.json()["results"]
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- Bulk ---------------------------------------------------------------------------------------------


def test_bulk_stores_good_accounts_and_reports_bad_ones(world, api_for):
    response = api_for(world.admin).post(
        BULK,
        {
            "records": [
                {"name": "Acme", "domain": "acme.com", "annual_revenue": 5000},
                {"name": "No domain"},
                {"name": "Bad size", "domain": "bad.example", "size_band": "huge"},
                {"domain": "noname.example"},
                {"name": "Typo", "domain": "typo.example", "industy": "Retail"},
                7,
                {"name": "Beta", "domain": "https://www.beta.example/"},
            ]
        },
    )

    body = response.json()
    assert (body["created"], body["updated"], body["skipped"], body["rejected"]) == (2, 0, 0, 5)
    assert [(r["index"], r["status"], [e["field"] for e in r["errors"]]) for r in body["results"]] == [
        (0, "created", []),
        (1, "rejected", ["domain"]),
        (2, "rejected", ["size_band"]),
        (3, "rejected", ["name"]),
        (4, "rejected", ["industy"]),
        (5, "rejected", ["record"]),
        (6, "created", []),
    ]
    assert sorted(Account.objects.values_list("domain", flat=True)) == ["acme.com", "beta.example"]
    assert str(Account.objects.get(domain="acme.com").annual_revenue) == "5000.00"


@pytest.mark.parametrize(
    ("match_on", "first", "second"),
    [
        ("domain", {"name": "Acme", "domain": "acme.com"}, {"domain": "www.acme.com", "industry": "Retail"}),
        ("external_id", {"name": "Acme", "external_id": "a-1"}, {"external_id": "a-1", "industry": "Retail"}),
        ("name", {"name": "Acme GmbH"}, {"name": "ACME  gmbh", "industry": "Retail"}),
    ],
)
def test_bulk_matches_existing_accounts_and_a_retry_creates_nothing(world, api_for, match_on, first, second):
    api = api_for(world.admin)
    created = api.post(BULK, {"match_on": match_on, "records": [first]}).json()
    retried = api.post(BULK, {"match_on": match_on, "records": [first]}).json()

    updated = api.post(BULK, {"match_on": match_on, "records": [second]}).json()

    assert created["created"] == 1
    assert (retried["created"], retried["skipped"]) == (0, 1)
    assert (updated["updated"], updated["results"][0]["id"]) == (1, created["results"][0]["id"])
    assert Account.objects.get().industry == "Retail"


def test_bulk_refuses_more_than_1000_accounts(world, api_for):
    response = api_for(world.admin).post(
        BULK, {"records": [{"name": f"A{i}", "domain": f"a{i}.example"} for i in range(1001)]}
    )

    assert response.status_code == 422
    assert response.json()["message"] == (
        "A bulk call takes at most 1,000 records; this one has 1,001. Send them in several calls."
    )
    assert Account.objects.count() == 0


def test_partner_bulk_rejects_accounts_they_cannot_see_and_shares_new_ones(world, api_for, accounts):
    response = api_for(world.partner).post(
        BULK,
        {
            "records": [
                {"domain": "hidden.example", "name": "Taken over"},
                {"domain": "shared.example", "industry": "Retail"},
                {"domain": "fresh.example", "name": "Fresh"},
            ]
        },
    )

    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "updated", "created"]
    assert [e["field"] for e in results[0]["errors"]] == ["domain"]
    accounts.other_team.refresh_from_db()
    assert (accounts.other_team.name, accounts.other_team.version) == ("Hidden Industries", 1)
    assert Account.objects.get(pk=accounts.shared.pk).industry == "Retail"
    fresh = Account.objects.get(domain="fresh.example")
    assert fresh.partner_organisation_id == world.partner.partner_organisation_id


def test_custom_fields_on_accounts_are_validated_by_type(world, api_for):
    services.custom_field_save(
        actor=None, object_type="account", key="employees", label="Employees", field_type=CustomField.FieldType.NUMBER
    )
    api = api_for(world.admin)

    good = api.post(URL, {"name": "Acme", "custom": {"employees": 250}})
    bad = api.post(URL, {"name": "Acme", "custom": {"employees": "lots"}})

    assert good.json()["custom"] == {"employees": 250}
    assert bad.json()["errors"] == [{"field": "custom.employees", "message": "must be a number."}]
