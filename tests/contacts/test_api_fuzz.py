"""Fuzzing the contacts and accounts API: whatever a client sends, the answer is never a 500, and every
error has the ``{"code", "message", "errors": [{"field", "message"}]}`` shape."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rapport.contacts import services
from rapport.contacts.models import CustomField
from rapport.contacts.schemas import AccountIn, AccountListParams, ContactIn, ContactListParams
from rapport.core.models import ApiToken
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible, never flaky
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

CONTACT_FIELDS = sorted(ContactIn.model_fields)
ACCOUNT_FIELDS = sorted(AccountIn.model_fields)
CUSTOM_KEYS = ["language", "employees", "newsletter", "tier", "products", "founded", "nope"]
# The documented parameters, custom-field filters, and names that don't exist.
LIST_PARAMS = [
    *sorted(set(ContactListParams.model_fields) | set(AccountListParams.model_fields)),
    *(f"cf.{key}" for key in CUSTOM_KEYS),
    "sort",
    "page",
]

# Text with the awkward characters: NUL, control characters, RTL marks, emoji, combining accents, quotes.
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
plausible = st.sampled_from(
    [
        "",
        " ",
        "ada@example.com",
        "ADA@EXAMPLE.COM",
        "+49 30 1234567",
        "12",
        "DE",
        "Germany",
        "ZZ",
        "lead",
        "customer",
        "vp",
        "c_level",
        "granted",
        "denied",
        "unknown",
        "yes",
        "2026-01-31",
        "2026-13-45",
        "2026-01-31T09:00:00Z",
        "me",
        "none",
        "1",
        "0",
        "-1",
        "99999999999999999999",
        "1e400",
        "nan",
        "true",
        "Gold",
        "gold",
        "CRM",
        "name",
        "-name",
        "email",
        "-updated_at",
        "51-200",
        "acme.com",
        "https://www.acme.com/x",
        "EUR",
        "\x00",
        "a\x00b",
        "²",
        "١٢",
        "' OR 1=1 --",
        "%",
        "_",
        "\\",
        "😀",
        "e\u0301",
        "x" * 300,
    ]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | plausible
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text | plausible, children, max_size=4),
    max_leaves=10,
)


def _body(fields: list[str]) -> st.SearchStrategy[Any]:
    known = st.dictionaries(st.sampled_from(fields), json_values, max_size=6)
    consent = st.dictionaries(st.sampled_from(["email", "phone", "sms", "post", "fax"]), json_values, max_size=3)
    custom = st.dictionaries(st.sampled_from(CUSTOM_KEYS), json_values, max_size=4)
    shaped = st.fixed_dictionaries({}, optional={"consent": consent, "custom": custom, "tags": json_values}).flatmap(
        lambda extra: known.map(lambda base: {**base, **extra})
    )
    return shaped | known | json_values


CONTACT_BODIES = _body(CONTACT_FIELDS)
ACCOUNT_BODIES = _body(ACCOUNT_FIELDS)
HEADER = st.none() | text | plausible | st.sampled_from(["second:Acme", "third:ZoomInfo", '"1"', "1", "*", 'W/"1"'])


def assert_well_formed(response) -> None:
    """Never a server error; every error body has exactly the documented shape."""
    assert response.status_code < 500, response.content[:500]
    if response.status_code == 204:
        return
    body = response.json()
    if response.status_code < 400:
        return
    assert {"code", "message", "errors"} <= set(body) <= {"code", "message", "errors", "existing_id"}, body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"field", "message"}, error
        assert isinstance(error["field"], str) and isinstance(error["message"], str) and error["message"]
    if "existing_id" in body:
        assert response.status_code == 409 and isinstance(body["existing_id"], int)


@pytest.fixture
def setting(world, api_for):
    """Custom fields of every type, some records, and write clients for an admin, a rep and a partner."""
    for object_type in ("contact", "account"):
        for key, kind, choices in [
            ("language", "text", []),
            ("employees", "number", []),
            ("newsletter", "boolean", []),
            ("tier", "choice", ["Gold", "Silver"]),
            ("products", "multi_choice", ["CRM", "Mail"]),
            ("founded", "date", []),
        ]:
            services.custom_field_save(
                actor=None, object_type=object_type, key=key, label=key.title(), field_type=kind, choices=choices
            )
    shared = AccountFactory(name="Shared", partner_organisation=world.partner.partner_organisation, owner=world.rep)
    contact = ContactFactory(account=shared, owner=world.rep, email="fuzz@example.com")
    assert CustomField.objects.count() == 12
    return {
        "clients": {
            "admin": api_for(world.admin),
            "rep": api_for(world.rep),
            "partner": api_for(world.partner),
            "reader": api_for(world.agent, ApiToken.Scope.READ),
        },
        "contact_id": contact.pk,
        "account_id": shared.pk,
    }


def _headers(if_match: str | None, source: str | None) -> dict[str, str]:
    headers = {}
    if if_match is not None:
        headers["HTTP_IF_MATCH"] = if_match
    if source is not None:
        headers["HTTP_X_DATA_SOURCE"] = source
    return headers


@FUZZ
@given(
    who=st.sampled_from(["admin", "rep", "partner", "reader"]),
    target=st.sampled_from(["contacts", "accounts"]),
    method=st.sampled_from(["post", "patch"]),
    contact_body=CONTACT_BODIES,
    account_body=ACCOUNT_BODIES,
    record=st.sampled_from(["known", "other"]) | st.integers(min_value=-5, max_value=2**70).map(str) | plausible,
    if_match=HEADER,
    source=HEADER,
)
def test_random_writes_never_crash(setting, who, target, method, contact_body, account_body, record, if_match, source):
    api = setting["clients"][who]
    body = contact_body if target == "contacts" else account_body
    path = f"/api/v1/{target}"
    if method == "patch":
        known = setting["contact_id"] if target == "contacts" else setting["account_id"]
        path += f"/{known if record == 'known' else record}"

    response = getattr(api, method)(path, json.dumps(body), **_headers(if_match, source))

    assert_well_formed(response)


@FUZZ
@given(
    who=st.sampled_from(["admin", "rep", "partner"]),
    target=st.sampled_from(["contacts", "accounts"]),
    records=st.lists(CONTACT_BODIES | ACCOUNT_BODIES, max_size=6) | json_values,
    match_on=st.none() | st.sampled_from(["email", "external_id", "domain", "name", "name_company"]) | text,
    mode=st.none() | st.sampled_from(["upsert", "create", "update", "merge"]) | text,
    extra=st.dictionaries(text, json_values, max_size=2),
    source=HEADER,
)
def test_random_bulk_calls_never_crash(setting, who, target, records, match_on, mode, extra, source):
    body: dict[str, Any] = {"records": records, **extra}
    if match_on is not None:
        body["match_on"] = match_on
    if mode is not None:
        body["mode"] = mode

    response = setting["clients"][who].post(f"/api/v1/{target}/bulk", json.dumps(body), **_headers(None, source))

    assert_well_formed(response)


@FUZZ
@given(
    who=st.sampled_from(["admin", "rep", "partner", "reader"]),
    target=st.sampled_from(["contacts", "accounts"]),
    params=st.dictionaries(
        st.sampled_from(LIST_PARAMS) | text,
        st.lists(text | plausible, min_size=1, max_size=2),
        max_size=5,
    ),
)
def test_random_list_parameters_never_crash(setting, who, target, params):
    response = setting["clients"][who].get(f"/api/v1/{target}", params)

    assert_well_formed(response)
    if response.status_code == 200:
        assert set(response.json()) <= {"results", "next_cursor", "count", "count_capped"}
