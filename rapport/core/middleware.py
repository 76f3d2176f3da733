"""Middleware that keeps oversized API bodies out before anything reads them."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ApiBodyLimitMiddleware:
    """Answer 413 with the API's JSON error body when a request to ``/api/`` declares too large a body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                body = {
                    "code": "too_large",
                    "message": f"The request body is {length:,} bytes; the API accepts at most {limit:,}.",
                    "errors": [],
                }
                return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)
