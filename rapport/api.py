"""The REST API under ``/api/v1/``: authentication, error mapping, and each app's router.

Errors always have the body ``{"code", "message", "errors": [{"field", "message"}]}`` (plus
``existing_id`` for duplicates), whichever layer raised them.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer

from rapport.core.errors import RapportError
from rapport.core.models import ApiToken, User
from rapport.core.services import token_authenticate

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """``Authorization: Bearer rpt_...``: a token created with ``rapport token create`` or on the tokens page."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        found = token_authenticate(token)
        if found is None:
            # A bad token is an error even when a session cookie came along: falling back to the
            # session would make a revoked token keep working in a logged-in browser.
            raise AuthenticationError()
        request.api_token = found  # type: ignore[attr-defined]
        request.user = found.user
        return found.user


class SessionAuth(APIKeyCookie):
    """The pages' own calls: the logged-in session, with CSRF checked on writes."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a session cookie there is nothing to protect from forgery: let the 401 speak.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user  # type: ignore[return-value]
        return None


class JsonParser(Parser):
    """Strict JSON bodies: no ``NaN``/``Infinity`` (not JSON, and no database stores them), no number too big
    for a float, and no lone UTF-16 surrogate (``"\\ud800"``), which can't be stored as text either."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body, parse_constant=_refuse_constant, parse_float=_finite_float)
        _check_encodable(data)
        return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large")
    return number


def _check_encodable(value: Any) -> None:
    # Iterative walk: a deeply nested body must not hit Python's recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            item.encode("utf-8")  # UnicodeEncodeError is a ValueError: ninja answers 400
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class RapportAPI(NinjaAPI):
    """The NinjaAPI, plus a JSON 404 for addresses under ``/api/v1/`` that no operation matches."""

    def _get_urls(self) -> list[Any]:
        urls = super()._get_urls()
        # After every router's paths (whenever they were added), so it only catches what nothing else
        # matched; ninja's root pattern stays for reverse() but the catch-all answers in its place.
        root = [u for u in urls if getattr(u, "name", None) == "api-root"]
        return [*[u for u in urls if u not in root], re_path(r"^.*$", _unknown_address), *root]


@csrf_exempt
def _unknown_address(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(
        request, 404, "not_found", f"Nothing exists at {request.path}; the operations are listed at /api/v1/docs."
    )


api = RapportAPI(
    title="Rapport API",
    version="1",
    description=(
        "The Rapport CRM's REST API. Authenticate with `Authorization: Bearer <token>`; "
        "create tokens with `rapport token create USERNAME --scope read|write` or on the API tokens page. "
        'Errors are JSON: `{"code", "message", "errors": [{"field", "message"}]}`.\n\n'
        "Lists are read a page at a time: follow `next_cursor` until it is null. Writes need a token with the "
        "write scope; `PATCH` takes an optional `If-Match: <version>` header that refuses the change (409) if "
        "the record changed since you read it, and every write takes an optional `X-Data-Source: party:name` "
        "header (`second:Acme Partner`, `third:ZoomInfo`) recorded as the provenance of the values written."
    ),
    auth=[TokenAuth(), SessionAuth()],
    parser=JsonParser(),
    urls_namespace="api",
)


def error_response(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    errors: list[dict[str, str]] | None = None,
    **extra: Any,
) -> HttpResponse:
    """The one error body shape of the API."""
    body: dict[str, Any] = {"code": code, "message": message, "errors": errors or []}
    body.update({k: v for k, v in extra.items() if v is not None})
    return api.create_response(request, body, status=status)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    while parts and parts[0] in ("body", "query", "path", "header", "cookie", "payload", "data", "filters"):
        parts = parts[1:]
    return ".".join(parts)


_PYDANTIC_MESSAGES = {
    "extra_forbidden": "is not a known field.",
    "missing": "is required.",
    "string_type": "must be text.",
    "int_type": "must be a whole number.",
    "int_parsing": "must be a whole number.",
    "float_type": "must be a number.",
    "float_parsing": "must be a number.",
    "bool_type": "must be true or false.",
    "bool_parsing": "must be true or false.",
    "list_type": "must be a list.",
    "dict_type": "must be an object.",
    "model_type": "must be an object.",
    "model_attributes_type": "must be an object.",
    "json_invalid": "is not valid JSON.",
}


def pydantic_errors(raw_errors: Any, *, whole: str = "body") -> list[dict[str, str]]:
    """Turn pydantic's error list into the API's ``[{"field", "message"}]`` (also used per bulk record).

    ``whole`` names what an error about the value as a whole refers to: the body, or a bulk record.
    """
    errors = []
    for error in raw_errors:
        kind = error.get("type", "")
        message = _PYDANTIC_MESSAGES.get(kind) or str(error.get("msg", "is not valid.")).rstrip(".") + "."
        if kind in ("enum", "literal_error") and error.get("ctx", {}).get("expected"):
            message = f"must be {error['ctx']['expected']}."
        name = _field_name(error.get("loc", ()))
        if not name:
            name = whole
            if kind == "missing":
                message = "is required: send a JSON object."
        errors.append({"field": name, "message": message})
    return errors


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, 422, "invalid", "The request is not valid.", pydantic_errors(exc.errors))


@api.exception_handler(RapportError)
def _rapport_error(request: HttpRequest, exc: RapportError) -> HttpResponse:
    return error_response(
        request,
        exc.status,
        exc.code,
        exc.message,
        [e.as_dict() for e in exc.errors],
        existing_id=getattr(exc, "existing_id", None),
    )


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        request,
        401,
        "unauthenticated",
        "Send a valid API token as 'Authorization: Bearer <token>'; this one is missing, unknown, expired or revoked.",
    )


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(request, 404, "not_found", "Nothing exists at this address.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed", 413: "too_large", 429: "throttled"}
    message = str(exc)
    if message == "Cannot parse request body":
        message = "The request body is not valid JSON."
    return error_response(request, exc.status_code, code.get(exc.status_code, "error"), message)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("Unexpected error in %s %s", request.method, request.path)
    return error_response(request, 500, "server_error", "Something went wrong on our side; the error has been logged.")


def require_write(request: HttpRequest) -> None:
    """Refuse writes made with a read-only token."""
    token: ApiToken | None = getattr(request, "api_token", None)
    if token is not None and token.scope != ApiToken.Scope.WRITE:
        from rapport.core.errors import Forbidden

        raise Forbidden("This API token is read-only; create one with --scope write to make changes.")


def current_user(request: HttpRequest) -> User:
    """The authenticated user of an API request."""
    user = request.user
    assert isinstance(user, User)
    return user


from rapport.contacts.api import router as contacts_router  # noqa: E402
from rapport.core.api import router as core_router  # noqa: E402
from rapport.sales.api import router as sales_router  # noqa: E402

api.add_router("", core_router)
api.add_router("", contacts_router)
api.add_router("", sales_router)
