"""Template filters for record pages and lists: relative times, phones, countries, stages and values."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from django.utils.translation import get_language
from django_countries import countries

from rapport.contacts import normalise
from rapport.contacts.models import ConsentStatus, LifecycleStage, Seniority, SizeBand

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
def highlight(text: object, query: object) -> SafeString:
    """``text`` with the first word start that matches the search ``query`` in ``<mark>``; all of it escaped."""
    value = "" if text is None else str(text)
    needle = " ".join(str(query or "").split())
    found = re.search(rf"(?<!\w){re.escape(needle)}", value, re.IGNORECASE) if len(needle) >= 2 else None
    if found is None:
        return format_html("{}", value)
    start, end = found.span()
    return format_html('{}<mark class="p-0">{}</mark>{}', value[:start], value[start:end], value[end:])


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


# --- List cells ---------------------------------------------------------------------------------------
# The list tables render their cells here, as plain strings, rather than with a chain of {% if %} tags
# per cell: 50 rows times a dozen columns is where a list page spends most of its time.

_STAGE_LABELS = dict(LifecycleStage.choices)
_SENIORITY_LABELS = dict(Seniority.choices)
_SIZE_LABELS = dict(SizeBand.choices)
_CONSENT_LABELS = dict(ConsentStatus.choices)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@lru_cache(maxsize=4096)
def _country_abbr(code: str, language: str | None) -> str:
    return f'<abbr title="{_e(country_name(code))}">{_e(code)}</abbr>' if code else ""


def _url(name: str, pk: int | None = None) -> str:
    """A URL without a full ``reverse`` per row: each pattern is reversed once per script prefix."""
    pattern = _url_pattern(name, get_script_prefix(), pk is not None)
    return pattern if pk is None else pattern.replace("/0/", f"/{pk}/", 1)


@lru_cache(maxsize=16)
def _url_pattern(name: str, prefix: str, with_id: bool) -> str:
    return reverse(name, args=[0]) if with_id else reverse(name)


def _td(content: str, css: str = "") -> str:
    return f'<td class="{css}">{content}</td>' if css else f"<td>{content}</td>"


def _truncated(content: str, full: str, css: str = "truncate") -> str:
    """A cell cut to the column's width with an ellipsis; the whole text shows on hover (``full`` is escaped)."""
    return f'<td class="{css}" title="{full}">{content}</td>' if full else f'<td class="{css}"></td>'


def _stage(stage: str) -> str:
    label = _e(_STAGE_LABELS.get(stage, stage))
    css = STAGE_CLASSES.get(stage, "text-bg-light border")
    return f'<span class="badge {css}" title="{label}">{_e(stage_short(stage))}</span>'


def _fast_reltime(value: dt.datetime | None, now: dt.datetime) -> str:
    """``reltime`` for table cells: the same markup, computed without translation look-ups."""
    if value is None:
        return "—"
    seconds = (now - value).total_seconds()
    future = seconds < -60
    seconds = abs(seconds)
    if seconds < 60:
        text = "just now"
    else:
        for unit, size in (
            ("year", 365 * 86400),
            ("month", 30 * 86400),
            ("week", 7 * 86400),
            ("day", 86400),
            ("hour", 3600),
            ("minute", 60),
        ):
            if seconds >= size:
                n = int(seconds // size)
                words = f"{n} {unit}{'' if n == 1 else 's'}"
                text = f"in {words}" if future else f"{words} ago"
                break
    local = timezone.localtime(value)
    return f'<time datetime="{value.isoformat()}" title="{local.strftime("%Y-%m-%d %H:%M:%S %Z")}">{text}</time>'


_DASH = '<span class="text-body-tertiary">—</span>'
_TAG = '<span class="badge rounded-pill text-bg-light border fw-normal me-1">{}</span>'
_NARROW = "truncate truncate-narrow"  # columns that give way first, so a laptop screen shows every default column


def _owner(row: Any) -> str:
    if not (row.owner_id and row.owner):
        return _td(_DASH)
    name = _e(row.owner.display_name)
    return _truncated(name, name, _NARROW)


def _contact_cell(row: Any, key: str, now: dt.datetime, language: str | None) -> str:
    if key == "name":
        name = _e(row.full_name or row.email or "(no name)")
        return _truncated(f'<a class="fw-medium" href="{_url("contacts:contact_detail", row.pk)}">{name}</a>', name)
    if key == "email":
        email = _e(row.email)
        return _truncated(email, email)
    if key == "company":
        account = row.account if row.account_id else None
        if account is None:
            return _td("", "truncate")
        url = _url("contacts:account_detail", account.pk)
        name = _e(account.name)
        return _truncated(f'<a class="link-body-emphasis" href="{url}">{name}</a>', name)
    if key == "job_title":
        title = _e(row.job_title)
        return f'<td class="truncate" title="{title}">{title}</td>'
    if key == "seniority":
        return _td(_e(_SENIORITY_LABELS.get(row.seniority, row.seniority)))
    if key == "stage":
        return _td(_stage(row.lifecycle_stage))
    if key == "owner":
        return _owner(row)
    if key == "country":
        return _td(_country_abbr(row.country, language))
    if key == "tags":
        return _td("".join(_TAG.format(_e(t.name)) for t in row.tags.all()), "truncate")
    if key == "updated":
        return _td(_fast_reltime(row.updated_at, now))
    if key == "created":
        return _td(_fast_reltime(row.created_at, now))
    if key == "phone":
        return _td(_e(phone(row.phone)))
    if key == "consent_email":
        status = row.consent_email
        label = _e(_CONSENT_LABELS.get(status, status))
        return _td(
            f'<span class="badge {CONSENT_CLASSES.get(status, "text-bg-light border")} fw-normal">{label}</span>'
        )
    if key in ("department", "source"):
        return _td(_e(getattr(row, key)), "truncate")
    if key == "city":
        return _td(_e(row.city))
    return _td("")


def _account_cell(row: Any, key: str, now: dt.datetime, language: str | None) -> str:
    if key == "name":
        name = _e(row.name)
        return _truncated(f'<a class="fw-medium" href="{_url("contacts:account_detail", row.pk)}">{name}</a>', name)
    if key in ("domain", "industry"):
        text = _e(getattr(row, key))
        return _truncated(text, text, "truncate" if key == "domain" else _NARROW)
    if key == "size":
        return _td(_e(_SIZE_LABELS.get(row.size_band, row.size_band)))
    if key == "country":
        return _td(_country_abbr(row.country, language))
    if key == "owner":
        return _owner(row)
    if key == "partner":
        partner = row.partner_organisation if row.partner_organisation_id else None
        return _td(_e(partner.name) if partner else "")
    if key == "stage":
        return _td(_stage(row.lifecycle_stage))
    if key == "contacts":
        count = getattr(row, "contact_count", 0)
        url = f"{_url('contacts:contact_list')}?account={row.pk}"
        return _td(f'<a class="link-body-emphasis" href="{_e(url)}">{_e(intcomma(count))}</a>', "num")
    if key == "updated":
        return _td(_fast_reltime(row.updated_at, now))
    if key == "created":
        return _td(_fast_reltime(row.created_at, now))
    if key == "city":
        return _td(_e(row.city))
    if key == "revenue":
        amount = "" if row.annual_revenue is None else f"{intcomma(int(row.annual_revenue))} {row.currency}"
        return _td(_e(amount), "num")
    if key == "parent":
        parent = row.parent if row.parent_id else None
        if parent is None:
            return _td("", "truncate")
        url = _url("contacts:account_detail", parent.pk)
        return _td(f'<a class="link-body-emphasis" href="{url}">{_e(parent.name)}</a>', "truncate")
    return _td("")


@register.simple_tag
def row_cells(row: Any, columns: Sequence[Any], is_contact: bool) -> SafeString:
    """The ``<td>`` cells of one list row, for the chosen columns (custom fields as ``cf.<key>``)."""
    cell = _contact_cell if is_contact else _account_cell
    now = timezone.now()
    language = get_language()
    parts = []
    for column in columns:
        if column.custom_key:
            parts.append(_td(_e(custom_display((row.custom or {}).get(column.custom_key))), "truncate"))
        else:
            parts.append(cell(row, column.key, now, language))
    return mark_safe("".join(parts))  # every value in it went through _e (html.escape)
