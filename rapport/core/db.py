"""Small database helpers that keep queries fast on both SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from rapport.core.errors import invalid


def prefix_q(field: str, prefix: str) -> Q:
    """Match values starting with ``prefix`` in a way the column's index can serve.

    PostgreSQL uses ``LIKE 'p%'`` with a ``varchar_pattern_ops`` index. SQLite's LIKE is case-blind
    and skips ordinary indexes, so there a half-open range ``[p, p')`` is used, where ``p'`` is ``p``
    with its last character incremented: in SQLite's binary order that range is exactly the prefix.
    """
    if not prefix:
        return Q()
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def encode_cursor(values: Sequence[Any]) -> str:
    """Opaque, URL-safe cursor for keyset pagination."""
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """Read a cursor made by ``encode_cursor``; a tampered or stale one is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise invalid("cursor", "is not a cursor this API gave out.") from None
    if not isinstance(values, list) or len(values) != length:
        raise invalid("cursor", "does not fit this ordering; start again without a cursor.")
    return values


def keyset_page(
    queryset: QuerySet[Any], order: Sequence[str], cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Return one page of ``queryset`` ordered by ``order`` (ending with a unique field) after ``cursor``.

    ``order`` holds field names, each optionally prefixed with ``-``; all must share one direction so
    that a single index serves the page. The next cursor encodes the last row's values.
    """
    descending = order[0].startswith("-")
    fields = [f.lstrip("-") for f in order]
    if cursor:
        values = decode_cursor(cursor, len(fields))
        op = "lt" if descending else "gt"
        condition = Q()
        for i, name in enumerate(fields):
            step = Q(**{f"{name}__{op}": values[i]})
            for j in range(i):
                step &= Q(**{fields[j]: values[j]})
            condition |= step
        queryset = queryset.filter(condition)
    rows = list(queryset.order_by(*order)[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([_value(last, name) for name in fields])
    return rows, next_cursor


def _value(row: Any, name: str) -> Any:
    value = row
    for part in name.split("__"):
        value = getattr(value, part)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
