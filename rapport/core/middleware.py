"""Middleware for the API: oversized bodies are refused before anything reads them, and every error is JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ApiBodyLimitMiddleware:
    """Answer 413 with the API's JSON error body when a request to ``/api/`` declares too large a body, and
    turn the framework's plain-text 405 into the same JSON shape."""

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
            response = self.get_response(request)
            if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
                body = {
                    "code": "method_not_allowed",
                    "message": f"{request.method} is not allowed here; allowed: {response.get('Allow', 'none')}.",
                    "errors": [],
                }
                replacement = HttpResponse(json.dumps(body), status=405, content_type="application/json")
                if response.has_header("Allow"):
                    replacement["Allow"] = response["Allow"]
                return replacement
            return response
        return self.get_response(request)
