"""API authentication, token scopes, transport errors (size, JSON) and the OpenAPI schema and docs page."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from rapport.contacts.models import Contact
from rapport.core.models import ApiToken
from rapport.core.services import token_create, token_revoke

pytestmark = pytest.mark.django_db

UNAUTHENTICATED = {
    "code": "unauthenticated",
    "message": "Send a valid API token as 'Authorization: Bearer <token>'; this one is missing, unknown, "
    "expired or revoked.",
    "errors": [],
}


def _call(authorization: str | None, method: str = "get", path: str = "/api/v1/contacts"):
    headers = {"Authorization": authorization} if authorization is not None else {}
    client = Client()
    if method == "get":
        return client.get(path, headers=headers)
    return getattr(client, method)(
        path, data=json.dumps({"first_name": "X"}), content_type="application/json", headers=headers
    )


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Token rpt_abc",
        "Basic YWRtaW46cGFzcw==",
        "Bearer rpt_unknown",
        "Bearer not-a-token",
        "Bearer " + "x" * 500,
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_missing_malformed_or_unknown_token_is_401(world, authorization, method):
    response = _call(authorization, method)

    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED
    assert Contact.objects.count() == 0


def test_an_expired_token_is_401(world):
    token, secret = token_create(user=world.admin, scope=ApiToken.Scope.WRITE)
    assert _call(f"Bearer {secret}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = _call(f"Bearer {secret}")

    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


def test_a_token_that_has_not_expired_yet_works(world):
    _, secret = token_create(user=world.admin, scope=ApiToken.Scope.READ, expires_in_days=1)

    assert _call(f"Bearer {secret}").status_code == 200


def test_a_revoked_token_is_401(world):
    token, secret = token_create(user=world.admin, scope=ApiToken.Scope.WRITE)
    token_revoke(token_ref=token.prefix, actor=world.admin)

    response = _call(f"Bearer {secret}", "post")

    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)
    assert Contact.objects.count() == 0


def test_a_deactivated_users_token_is_401(world):
    _, secret = token_create(user=world.marketer, scope=ApiToken.Scope.WRITE)
    world.marketer.is_active = False
    world.marketer.save()

    assert _call(f"Bearer {secret}").status_code == 401
    assert _call(f"Bearer {secret}", "post").status_code == 401


def test_the_token_and_its_scope_are_reported_by_me(world, api_for):
    body = api_for(world.rep, ApiToken.Scope.READ).get("/api/v1/me").json()

    assert (body["username"], body["role"], body["token_scope"]) == ("rep", "sales_rep", "read")
    assert "records.delete" not in body["capabilities"]


def test_a_read_only_token_gets_403_with_a_clear_message_on_writes(world, api_for):
    response = api_for(world.admin, ApiToken.Scope.READ).post("/api/v1/contacts", {"first_name": "X"})

    assert response.status_code == 403
    assert response.json() == {
        "code": "forbidden",
        "message": "This API token is read-only; create one with --scope write to make changes.",
        "errors": [],
    }


def test_the_pages_session_can_call_the_api_and_writes_need_the_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin)

    read = client.get("/api/v1/contacts")
    forged = client.post("/api/v1/contacts", json.dumps({"first_name": "X"}), content_type="application/json")

    assert read.status_code == 200
    assert (forged.status_code, forged.json()["code"]) == (403, "forbidden")
    assert Contact.objects.count() == 0


# --- Transport errors ---------------------------------------------------------------------------------


def test_an_oversized_body_is_413_json_and_nothing_is_written(world, api_for):
    api = api_for(world.admin)
    padding = "x" * (settings.API_MAX_BODY_BYTES + 1)

    response = api.post("/api/v1/contacts/bulk", json.dumps({"records": [{"first_name": padding}]}))

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "too_large"
    assert body["errors"] == []
    assert body["message"].endswith("the API accepts at most 5,242,880.")
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"first_name": "A",}',
        b"\xff\xfe\x00",
        b'{"first_name": "\\ud800"}',
        b"[" * 10_000,
        b'{"first_name": "A", "custom": {"score": NaN}}',
        b'{"first_name": "A", "custom": {"score": -Infinity}}',
        b'{"first_name": "A", "custom": {"score": 1e400}}',
    ],
)
def test_a_body_that_is_not_valid_json_is_400_json(world, api_for, raw):
    api = api_for(world.admin)

    response = api.client.post("/api/v1/contacts", data=raw, content_type="application/json", headers=api.headers)

    assert response.status_code == 400
    assert response.json() == {"code": "bad_request", "message": "The request body is not valid JSON.", "errors": []}
    assert Contact.objects.count() == 0


@pytest.mark.parametrize("depth", [500, 900])
def test_a_deeply_nested_but_valid_body_is_a_422_not_a_crash(world, api_for, depth):
    nested: object = "x"
    for _ in range(depth):
        nested = {"a": nested}

    response = api_for(world.admin).post("/api/v1/contacts", {"first_name": "A", "custom": nested})

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["custom.a"]


def test_a_missing_body_is_a_422_asking_for_one(world, api_for):
    api = api_for(world.admin)

    response = api.client.patch("/api/v1/contacts/1", headers=api.headers)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body", "message": "is required: send a JSON object."}]


def test_a_non_numeric_id_in_the_path_is_a_422(world, api_for):
    response = api_for(world.admin).get("/api/v1/contacts/abc")

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "contact_id", "message": "must be a whole number."}]


@pytest.mark.parametrize("contact_id", ["0", "99999999999999999999999"])
def test_an_id_no_database_could_hold_is_simply_not_found(world, api_for, contact_id):
    response = api_for(world.admin).get(f"/api/v1/contacts/{contact_id}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- OpenAPI and docs ---------------------------------------------------------------------------------


def test_the_openapi_schema_documents_every_contacts_and_accounts_operation(client):
    schema = client.get("/api/v1/openapi.json").json()

    operations = {
        (method, path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith(("/api/v1/contacts", "/api/v1/accounts"))
    }
    assert sorted(operations) == sorted(
        (method, f"/api/v1/{things}{suffix}")
        for things, key in (("contacts", "contact_id"), ("accounts", "account_id"))
        for method, suffix in (
            ("get", ""),
            ("post", ""),
            ("post", "/bulk"),
            ("get", f"/{{{key}}}"),
            ("patch", f"/{{{key}}}"),
            ("delete", f"/{{{key}}}"),
        )
    )
    for (method, path), op in operations.items():
        assert op["summary"], (method, path)
        assert len(op["description"]) > 40, (method, path)
    patch = operations[("patch", "/api/v1/contacts/{contact_id}")]
    headers = {p["name"]: p for p in patch["parameters"] if p["in"] == "header"}
    assert set(headers) == {"If-Match", "X-Data-Source"}
    assert "409" in headers["If-Match"]["description"]
    assert "third:ZoomInfo" in headers["X-Data-Source"]["description"]
    list_params = {p["name"] for p in operations[("get", "/api/v1/contacts")]["parameters"]}
    assert {
        "q",
        "owner",
        "stage",
        "country",
        "seniority",
        "tag",
        "updated_since",
        "ordering",
        "cursor",
        "limit",
    } <= list_params
    assert schema["components"]["schemas"]["ContactIn"]["additionalProperties"] is False


def test_the_docs_page_uses_bundled_assets_and_nothing_from_a_cdn(client):
    response = client.get("/api/v1/docs")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<script src="/static/ninja/swagger-ui-bundle.js">' in html
    assert 'href="/static/ninja/swagger-ui.css"' in html
    assert "cdn" not in html.lower()
    assert all(url.startswith("/static/ninja/") for url in re.findall(r'(?:src|href)="([^"]*)"', html))
    assert client.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/contacts/", "/api/v1/nothing-here", "/api/v1/contacts/1/notes"])
@pytest.mark.parametrize("method", ["get", "post", "patch"])
def test_an_address_the_api_does_not_have_is_a_json_404(world, api_for, path, method):
    api = api_for(world.admin)

    response = getattr(api, method)(path) if method == "get" else getattr(api, method)(path, {"first_name": "A"})

    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": f"Nothing exists at {path}; the operations are listed at /api/v1/docs.",
        "errors": [],
    }


def test_a_revoked_token_is_refused_even_with_a_logged_in_session(world, client):
    """A browser that is logged in still gets 401 when it sends a bad bearer token: no fallback to the session."""
    from rapport.core.services import token_create, token_revoke

    _, secret = token_create(user=world.admin)
    token_revoke(token_ref=secret)
    client.force_login(world.admin)
    assert client.get("/api/v1/me").status_code == 200
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
