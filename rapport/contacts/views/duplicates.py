"""Pages for likely duplicate contacts and accounts: the ranked list, scanning, side-by-side review, merge.

Only roles that may merge (``records.merge``) reach these pages; others get the 403 page. A pair whose
records the user can't see (or that were merged or deleted since) is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from rapport.contacts import duplicates
from rapport.contacts.models import DuplicateScan, ObjectType
from rapport.core.access import can
from rapport.core.errors import Forbidden, NotFound, RapportError
from rapport.core.models import Via

TABS = ((ObjectType.CONTACT.value, "Contacts"), (ObjectType.ACCOUNT.value, "Accounts"))
PENDING = (DuplicateScan.Status.QUEUED, DuplicateScan.Status.RUNNING)


def _require_merge(request: HttpRequest) -> None:
    if not can(request.user, "records.merge"):
        raise PermissionDenied("Your role may not merge records. An admin, marketer or sales manager can.")


def _object_type(value: str | None) -> str:
    return value if value in ObjectType.values else ObjectType.CONTACT.value


def _list_url(object_type: str) -> str:
    return f"{reverse('contacts:duplicate_list')}?type={object_type}"


def _pair(request: HttpRequest, pk: int) -> duplicates.DuplicatePair:
    try:
        return duplicates.duplicate_get(actor=request.user, candidate_id=pk)  # type: ignore[arg-type]
    except NotFound:
        raise Http404("No such pair of duplicates.") from None


def _sides(pair: duplicates.DuplicatePair, survivor_id: str | None) -> tuple[Any, Any]:
    """The survivor (as asked, else the older record) and the record merged into it."""
    if survivor_id == str(pair.second.pk):
        return pair.second, pair.first
    if survivor_id == str(pair.first.pk):
        return pair.first, pair.second
    older = pair.older
    return older, pair.second if older is pair.first else pair.first


def _scan_context(object_type: str) -> dict[str, Any]:
    scan = duplicates.duplicate_scan_latest(object_type=object_type)
    return {
        "object_type": object_type,
        "type_label": dict(TABS)[object_type].lower(),
        "scan": scan,
        "scan_pending": scan is not None and scan.status in PENDING,
    }


@login_required
@require_GET
def duplicate_list(request: HttpRequest) -> HttpResponse:
    """Likely duplicate pairs, best first, with both records' key fields; tabs for contacts and accounts."""
    _require_merge(request)
    object_type = _object_type(request.GET.get("type"))
    context = _scan_context(object_type)
    if request.htmx and request.GET.get("status"):  # type: ignore[attr-defined]
        # The scan-status box polls while a scan runs; once it is done, reload to show the new pairs.
        response = render(request, "contacts/duplicate_scan_status.html", context)
        if not context["scan_pending"]:
            response["HX-Refresh"] = "true"
        return response
    page = duplicates.duplicate_pairs_page(
        actor=request.user,  # type: ignore[arg-type]
        object_type=object_type,
        page=request.GET.get("page"),
    )
    context.update({"tabs": TABS, "page": page})
    return render(request, "contacts/duplicate_list.html", context)


@login_required
@require_POST
def duplicate_scan(request: HttpRequest) -> HttpResponse:
    """Start a background scan for duplicates (unless one is under way) and return to the list."""
    _require_merge(request)
    object_type = _object_type(request.POST.get("type"))
    try:
        scan, created = duplicates.duplicates_scan_request(actor=request.user, object_type=object_type)  # type: ignore[arg-type]
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    label = dict(TABS)[object_type].lower()
    # The worker (or the immediate queue of tests and small set-ups) may be done by now. While the scan
    # is queued or running, the list's status box says so, and it is the one place that stays right
    # when the scan ends: no message then, or it would sit beside a finished scan.
    scan.refresh_from_db()
    if scan.status == DuplicateScan.Status.DONE:
        found = f"{scan.pairs:,} likely duplicate pair{'' if scan.pairs == 1 else 's'}"
        messages.success(request, f"The scan of {label} is done: {found}.")
    elif scan.status == DuplicateScan.Status.FAILED:
        messages.error(request, f"The scan of {label} failed; the reason is below.")
    elif not created:
        messages.info(request, f"A scan of {label} is already under way. The pairs appear here when it's done.")
    return redirect(_list_url(object_type))


@login_required
@require_GET
def duplicate_review(request: HttpRequest, pk: int) -> HttpResponse:
    """Both records side by side with a choice per differing field, the survivor swappable."""
    _require_merge(request)
    pair = _pair(request, pk)
    survivor, other = _sides(pair, request.GET.get("survivor"))
    object_type = pair.candidate.object_type
    context = {
        "pair": pair,
        "candidate": pair.candidate,
        "object_type": object_type,
        "type_label": "contact" if object_type == ObjectType.CONTACT else "account",
        "survivor": survivor,
        "other": other,
        "fields": duplicates.merge_fields(object_type=object_type, survivor=survivor, other=other),
    }
    return render(request, "contacts/duplicate_review.html", context)


@login_required
@require_POST
def duplicate_merge(request: HttpRequest, pk: int) -> HttpResponse:
    """Merge the pair with the choices made on the review page, then show the surviving record."""
    _require_merge(request)
    pair = _pair(request, pk)
    survivor, other = _sides(pair, request.POST.get("survivor"))
    choices = {
        name.removeprefix("choice."): request.POST.get(name, "") for name in request.POST if name.startswith("choice.")
    }
    merge = duplicates.contact_merge if pair.candidate.object_type == ObjectType.CONTACT else duplicates.account_merge
    try:
        record = merge(
            actor=request.user,  # type: ignore[arg-type]
            via=Via.PAGE,
            survivor_id=survivor.pk,
            other_id=other.pk,
            choices=choices,
        )
    except NotFound:
        raise Http404("No such record.") from None
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except RapportError as exc:
        messages.error(request, str(exc))
        return redirect(f"{reverse('contacts:duplicate_review', args=[pk])}?survivor={survivor.pk}")
    kind = "contact" if pair.candidate.object_type == ObjectType.CONTACT else "account"
    merged = f"the duplicate of {record}" if str(other) == str(record) else str(other)
    messages.success(request, f"Merged {merged} into this {kind} (#{other.pk} is kept as merged history).")
    return redirect(record.get_absolute_url())


@login_required
@require_POST
def duplicate_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a pair as not duplicates; later scans won't suggest it again."""
    _require_merge(request)
    try:
        candidate = duplicates.duplicate_dismiss(actor=request.user, via=Via.PAGE, candidate_id=pk)  # type: ignore[arg-type]
    except NotFound:
        raise Http404("No such pair of duplicates.") from None
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    messages.success(request, "Marked as not duplicates. Later scans won't suggest this pair again.")
    return redirect(_list_url(candidate.object_type))
