"""Template filters for record pages and lists: relative times, phones, countries, stages and values."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django_countries import countries

from rapport.contacts import normalise

register = template.Library()

# Badge colours per lifecycle stage: cool for early stages, green for customers.
STAGE_CLASSES = {
    "subscriber": "text-bg-light border",
    "lead": "text-bg-secondary",
    "mql": "text-bg-info",
    "sql": "text-bg-primary",
    "opportunity": "text-bg-warning",
    "customer": "text-bg-success",
    "evangelist": "text-bg-success",
    "other": "text-bg-light border",
}
CONSENT_CLASSES = {"granted": "text-bg-success", "denied": "text-bg-danger", "unknown": "text-bg-light border"}


def _as_datetime(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None


@register.filter
def reltime(value: object) -> SafeString | str:
    """``<time>`` saying "3 hours ago", with the exact time on hover (datetimes or ISO strings)."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    local = timezone.localtime(moment)
    now = timezone.now()
    if moment > now + dt.timedelta(minutes=1):
        text = f"in {timesince(now, moment, depth=1)}"
    elif now - moment < dt.timedelta(minutes=1):
        text = "just now"
    else:
        text = f"{timesince(moment, now, depth=1)} ago"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        local.strftime("%Y-%m-%d %H:%M:%S %Z"),
        text.replace("\xa0", " "),
    )


@register.filter
def phone(value: str) -> str:
    """A stored E.164 number in international reading form (``+49 30 123456``)."""
    return normalise.phone_display(value or "")


@register.filter
def country_name(code: str) -> str:
    """The country's name for an ISO 3166 alpha-2 code (the code itself if unknown)."""
    if not code:
        return ""
    return str(countries.name(code)) or code


@register.filter
def stage_class(stage: str) -> str:
    """Bootstrap badge classes for a lifecycle stage."""
    return STAGE_CLASSES.get(stage or "", "text-bg-light border")


@register.filter
def stage_short(stage: str) -> str:
    """A lifecycle stage's name short enough for a dense table ("MQL" rather than "Marketing qualified lead")."""
    from rapport.contacts.models import LifecycleStage

    if stage in ("mql", "sql"):
        return stage.upper()
    return str(dict(LifecycleStage.choices).get(stage, stage))


@register.filter
def consent_class(status: str) -> str:
    """Bootstrap badge classes for a consent status."""
    return CONSENT_CLASSES.get(status or "", "text-bg-light border")


@register.filter
def get_item(mapping: Mapping[str, Any] | None, key: str) -> Any:
    """``mapping[key]`` or None, for dicts keyed by variables in templates."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def custom_display(value: object) -> str:
    """A custom field's stored value as text: lists joined, booleans as Yes/No, nothing as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@register.filter
def as_json(value: object) -> str:
    """A value as JSON, for Alpine.js attributes (left unsafe, so the template escapes its quotes)."""
    return json.dumps(value, default=str)
