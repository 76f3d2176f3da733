"""Pages for contacts and accounts: lists, record pages, forms, bulk actions, search, saved views, exports.

Views stay thin: reads go through ``rapport.contacts.queries`` and ``rapport.core.queries`` (always
starting from ``visible_to``), writes through ``rapport.contacts.services``, and how things are shown
(list columns, filter chips, a record's history, timeline and provenance in words) is built by
``presenters``. A record the user may not see is a 404; an action their role may not take is a 403.
List views serve the whole page, or only the table when htmx asks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from rapport.contacts import exporting, normalise, services
from rapport.contacts.forms import CUSTOM_PREFIX, AccountForm, ContactForm, owner_choices
from rapport.contacts.models import (
    Account,
    ConsentChannel,
    ConsentStatus,
    Contact,
    LifecycleStage,
    ObjectType,
    Seniority,
    SizeBand,
)
from rapport.contacts.queries import (
    ACCOUNT_ORDERINGS,
    CONTACT_ORDERINGS,
    FULL_COUNT_CAP,
    PAGE_COUNT_CAP,
    ListFilters,
    account_contacts,
    account_details,
    account_suggestions,
    contact_counts_by_account,
    contact_details,
    contact_for_vcard,
    contact_id_with_email,
    custom_fields_for,
    global_search,
    list_count,
    list_page,
    matching_ids_in_chunks,
    parse_filters,
    saved_views_for_list,
    saved_views_own_and_shared,
    visible_account,
    visible_account_name,
    visible_contact,
)
from rapport.contacts.validation import Lookups, clean_account, clean_contact
from rapport.contacts.views.presenters import (
    ACCOUNT_DEFAULT,
    CONTACT_DEFAULT,
    CURSOR_PARAMS,
    Chip,
    available_columns,
    chosen_columns,
    column_header,
    consent_by_channel,
    cursor_for,
    custom_values,
    filter_chips,
    history_items,
    provenance_groups,
    query_string,
    saved_view_url,
    timeline_items,
)
from rapport.core.access import can
from rapport.core.errors import Conflict, FieldError, Forbidden, NotFound, RapportError, ValidationFailed
from rapport.core.models import Role, User, Via
from rapport.core.queries import user_or_none

PAGE_SIZE = 50
RELATED_PAGE_SIZE = 25
BULK_CHUNK = 500


_ID = re.compile(r"[0-9]{1,18}")


def _as_id(raw: object) -> int | None:
    """A record id typed in a URL or form, or None: ASCII digits only ("²".isdigit() is true) and no
    more than a bigint holds, so odd input is ignored rather than reaching the database."""
    text = str(raw if raw is not None else "").strip()
    return int(text) if _ID.fullmatch(text) else None


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _require(user: User, capability: str) -> None:
    if not can(user, capability):
        raise PermissionDenied(f"Your role may not do this ({capability.replace('.', ': ').replace('_', ' ')}).")


def _render(request: HttpRequest, page: str, fragment: str, context: dict[str, Any]) -> HttpResponse:
    """The whole page, or only the fragment when htmx asks for it (not for history restores)."""
    partial = bool(request.htmx) and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    response = render(request, fragment if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Lists -------------------------------------------------------------------------------------------


def _list_context(request: HttpRequest, object_type: str) -> dict[str, Any]:
    """Everything a contact or account list (page or fragment) shows, in a fixed number of queries."""
    user = _user(request)
    params = request.GET
    is_contact = object_type == ObjectType.CONTACT
    custom_fields = custom_fields_for(object_type)
    available = available_columns(object_type, custom_fields)
    columns = chosen_columns(params, available, object_type)
    errors: list[FieldError] = []
    try:
        filters = parse_filters(params, object_type=object_type)
    except ValidationFailed as exc:
        errors = exc.errors
        filters = ListFilters()
    orderings = CONTACT_ORDERINGS if is_contact else ACCOUNT_ORDERINGS
    rows: list[Any] = []
    next_cursor = previous_cursor = None
    count, capped = 0, False
    cap = PAGE_COUNT_CAP
    if not errors:
        page = list_page(
            user,
            filters,
            object_type=object_type,
            after=params.get("after"),
            before=params.get("before"),
            limit=PAGE_SIZE,
        )
        rows = page.rows
        if page.stale_cursor:
            errors = [FieldError("", "This page link is out of date; the list starts again from the top.")]
        order = orderings[filters.ordering]
        if rows and page.has_next:
            next_cursor = cursor_for(rows[-1], order)
        if rows and page.has_previous:
            previous_cursor = cursor_for(rows[0], order)
        # A page counts up to 1,000 and says "1,000+"; "count all" (count=all) counts further.
        cap = FULL_COUNT_CAP if params.get("count") == "all" else PAGE_COUNT_CAP
        count, capped = list_count(user, filters, object_type=object_type, cap=cap)
    internal = user.role != Role.PARTNER
    users = owner_choices()[1:] if internal else []
    user_names = dict(users)
    if not is_contact and rows:
        counts = contact_counts_by_account(user, [a.pk for a in rows])
        for account in rows:
            account.contact_count = counts.get(account.pk, 0)
    views = saved_views_for_list(user, object_type=object_type)
    for view in views:
        view.url = saved_view_url(view)  # type: ignore[attr-defined]
    active_view = next((v for v in views if str(v.pk) == params.get("view")), None)
    chips: list[Chip] = []
    if not errors:
        account_name = visible_account_name(user, filters.account) if filters.account is not None else None
        chips = filter_chips(params, filters, users=user_names, custom_fields=custom_fields, account_name=account_name)
    filter_query = query_string(params)
    columns_param = ",".join(c.key for c in columns)
    return {
        "object_type": object_type,
        "is_contact": is_contact,
        "rows": rows,
        "count": count,
        "capped": capped,
        "count_all_query": query_string(params, drop=(), count="all") if capped and cap < FULL_COUNT_CAP else "",
        "filters": filters,
        "filtered": not filters.is_empty(),
        "errors": errors,
        "chips": chips,
        "columns": columns,
        "column_keys": [c.key for c in columns],
        "available_columns": available,
        "default_columns": list(CONTACT_DEFAULT if is_contact else ACCOUNT_DEFAULT),
        "custom_fields": custom_fields,
        "ordering": filters.ordering,
        "headers": [column_header(params, c, filters.ordering) for c in columns],
        "clear_url": reverse("contacts:contact_list" if is_contact else "contacts:account_list")
        + (f"?{urlencode([('cols', v) for v in params.getlist('cols')])}" if "cols" in params else ""),
        "more_filters_open": bool(
            filters.country
            or filters.tag
            or filters.consent_email
            or filters.custom
            or filters.industry
            or filters.updated_since
            or filters.account is not None
        ),
        "next_query": query_string(params, drop=("before", "after"), after=next_cursor) if next_cursor else "",
        "previous_query": (
            query_string(params, drop=("before", "after"), before=previous_cursor) if previous_cursor else ""
        ),
        "first_query": query_string(params, drop=("before", "after")) if previous_cursor else "",
        "filter_query": filter_query,
        "columns_param": columns_param,
        "export_query": query_string(params, drop=(*CURSOR_PARAMS, "view", "cols")),
        "save_query": query_string(params, drop=(*CURSOR_PARAMS, "view")),
        "list_url": reverse("contacts:contact_list" if is_contact else "contacts:account_list"),
        "users": users,
        "internal": internal,
        "saved_views": views,
        "active_view": active_view,
        "stages": LifecycleStage.choices,
        "seniorities": Seniority.choices,
        "size_bands": SizeBand.choices,
        "consent_statuses": ConsentStatus.choices,
        "can_export": can(user, "records.export"),
        "can_bulk": can(user, "records.bulk_edit"),
        "can_delete": can(user, "records.delete"),
        "page_ids": [r.pk for r in rows],
        "custom_filter_values": filters.custom,
    }


@login_required
def contact_list(request: HttpRequest) -> HttpResponse:
    """The contact list: search, filters, sort, columns, saved views, bulk actions, keyset pages."""
    context = _list_context(request, ObjectType.CONTACT)
    return _render(request, "contacts/contact_list.html", "contacts/_list_results.html", context)


@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    """The account list, built like the contact list."""
    context = _list_context(request, ObjectType.ACCOUNT)
    return _render(request, "contacts/account_list.html", "contacts/_list_results.html", context)


# --- Bulk actions --------------------------------------------------------------------------------------


def _ticked_ids(request: HttpRequest) -> list[int]:
    return sorted({i for i in map(_as_id, request.POST.getlist("ids")) if i is not None})


def _bulk(request: HttpRequest, object_type: str) -> HttpResponse:
    user = _user(request)
    is_contact = object_type == ObjectType.CONTACT
    query = request.POST.get("query", "")
    back = reverse("contacts:contact_list" if is_contact else "contacts:account_list") + (f"?{query}" if query else "")
    action = request.POST.get("action", "")
    chunks: list[list[int]] | Iterator[list[int]]
    if request.POST.get("all_matching"):
        try:
            filters = parse_filters(QueryDict(query), object_type=object_type)
        except ValidationFailed as exc:
            messages.error(request, str(exc))
            return redirect(back)
        chunks = matching_ids_in_chunks(user, object_type=object_type, filters=filters, chunk_size=BULK_CHUNK)
    else:
        ids = _ticked_ids(request)
        if not ids:
            messages.warning(request, "Tick at least one row first.")
            return redirect(back)
        chunks = [ids]
    action_call = _bulk_action(request, object_type, action)
    if action_call is None:
        messages.error(request, "Choose what to do with the selected rows.")
        return redirect(back)
    call, describe = action_call
    done = 0
    try:
        for chunk in chunks:
            done += call(chunk)
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except RapportError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    noun = ("contact" if is_contact else "account") + ("" if done == 1 else "s")
    messages.success(request, describe(f"{done:,} {noun}"))
    return redirect(back)


def _bulk_action(
    request: HttpRequest, object_type: str, action: str
) -> tuple[Callable[[list[int]], int], Callable[[str], str]] | None:
    """The service call for a bulk action and the sentence describing what it did."""
    user = _user(request)
    post = request.POST
    is_contact = object_type == ObjectType.CONTACT
    if action == "assign_owner":
        raw = post.get("owner_id", "").strip()
        owner_id = _as_id(raw)
        if raw and owner_id is None:
            return None
        owner = user_or_none(owner_id)
        who = owner.display_name if owner else "no owner"
        assign = services.contacts_assign_owner if is_contact else services.accounts_assign_owner
        key = "contact_ids" if is_contact else "account_ids"
        return (
            lambda ids: assign(actor=user, via=Via.PAGE, owner_id=owner_id, **{key: ids}),  # type: ignore[operator]
            lambda n: f"Assigned {n} to {who}.",
        )
    if action == "set_stage":
        stage = post.get("stage", "")
        label = dict(LifecycleStage.choices).get(stage, stage)
        if is_contact:
            return (
                lambda ids: services.contacts_set_stage(actor=user, via=Via.PAGE, contact_ids=ids, stage=stage),
                lambda n: f"Moved {n} to {label}.",
            )
        return (
            lambda ids: services.accounts_set_stage(actor=user, via=Via.PAGE, account_ids=ids, stage=stage),
            lambda n: f"Moved {n} to {label}.",
        )
    if action == "tag" and is_contact:
        tag = post.get("tag", "").strip()
        if not tag:
            return None
        return (
            lambda ids: services.contacts_tag(actor=user, via=Via.PAGE, contact_ids=ids, add=[tag]),
            lambda n: f"Tagged {n} with “{tag}”.",
        )
    if action == "delete":
        if is_contact:
            return (
                lambda ids: services.contacts_delete(actor=user, via=Via.PAGE, contact_ids=ids),
                lambda n: f"Deleted {n}.",
            )
        return (
            lambda ids: services.accounts_delete(actor=user, via=Via.PAGE, account_ids=ids),
            lambda n: f"Deleted {n}.",
        )
    return None


@login_required
@require_POST
def contact_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner, add a tag, change the stage or delete the ticked contacts (or all matching)."""
    return _bulk(request, ObjectType.CONTACT)


@login_required
@require_POST
def account_bulk(request: HttpRequest) -> HttpResponse:
    """Assign an owner, change the stage or delete the ticked accounts (or all matching)."""
    return _bulk(request, ObjectType.ACCOUNT)


# --- Record pages --------------------------------------------------------------------------------------


def _get_contact(user: User, pk: int) -> Contact:
    try:
        return services.contact_get(actor=user, contact_id=pk)
    except NotFound:
        raise Http404("No such contact.") from None


def _get_account(user: User, pk: int) -> Account:
    try:
        return services.account_get(actor=user, account_id=pk)
    except NotFound:
        raise Http404("No such account.") from None


@login_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A contact's page: properties, timeline and history, and the account, tags, consent and provenance."""
    user = _user(request)
    contact = _get_contact(user, pk)
    custom_fields = custom_fields_for(ObjectType.CONTACT)
    custom_labels = {f.key: f.label for f in custom_fields}
    details = contact_details(user, contact)
    history = history_items(user, details.history, Contact, custom_labels)
    context = {
        "contact": contact,
        "account": details.account,
        "owner": details.owner,
        "colleagues": details.colleagues,
        "colleague_count": details.colleague_count,
        "tags": details.tags,
        "consent": consent_by_channel(contact, details.consent_changes),
        "custom_values": custom_values(contact, custom_fields),
        "history": history,
        "timeline": timeline_items(history, details.stage_changes, details.consent_changes),
        "provenance": provenance_groups(contact, custom_labels, details.data_sources),
        "can_delete": can(user, "records.delete"),
        "can_export": can(user, "records.export"),
    }
    return render(request, "contacts/contact_detail.html", context)


@login_required
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An account's page: properties, its contacts (paged), timeline and history, parent and child accounts."""
    user = _user(request)
    account = _get_account(user, pk)
    contacts = account_contacts(user, account, after=request.GET.get("after") or None, limit=RELATED_PAGE_SIZE)
    related = {
        "account": account,
        "contacts": contacts.contacts,
        "contact_count": contacts.count,
        "contacts_capped": contacts.capped,
        "contacts_next": urlencode({"after": contacts.next_cursor}) if contacts.next_cursor else "",
        "contacts_paged": contacts.paged,
    }
    if request.htmx and not request.htmx.history_restore_request:  # type: ignore[attr-defined]
        response = render(request, "contacts/_account_contacts.html", related)
        patch_vary_headers(response, ("HX-Request",))
        return response
    custom_fields = custom_fields_for(ObjectType.ACCOUNT)
    custom_labels = {f.key: f.label for f in custom_fields}
    details = account_details(user, account)
    history = history_items(user, details.history, Account, custom_labels)
    context = {
        **related,
        "parent": details.parent,
        "children": details.children,
        "owner": details.owner,
        "partner": details.partner,
        "territory": details.territory,
        "custom_values": custom_values(account, custom_fields),
        "history": history,
        "timeline": timeline_items(history, details.stage_changes, []),
        "provenance": provenance_groups(account, custom_labels, details.data_sources),
        "can_delete": can(user, "records.delete"),
        "can_export": can(user, "records.export"),
    }
    return render(request, "contacts/account_detail.html", context)


# --- Forms ---------------------------------------------------------------------------------------------


def _account_choice(user: User, value: object) -> Account | None:
    """The account a combobox currently points at, if the user may see it."""
    pk = _as_id(value)
    if pk is None:
        return None
    return visible_account(user, pk)


def _contact_form_page(
    request: HttpRequest, form: ContactForm, contact: Contact | None, *, status: int | None = None, **extra: Any
) -> HttpResponse:
    user = _user(request)
    context = {
        "form": form,
        "contact": contact,
        "account_choice": _account_choice(user, form["account_id"].value()),
        "validate_url": _validate_url("contacts:contact_validate", contact),
        **extra,
    }
    return render(request, "contacts/contact_form.html", context, status=status or (422 if form.errors else 200))


def _validate_url(name: str, record: Contact | Account | None) -> str:
    url = reverse(name)
    return f"{url}?pk={record.pk}" if record is not None else url


def _email_holder(raw: str, *, exclude_id: int | None = None) -> int | None:
    """The live contact that already has this email (as typed, normalised), if any."""
    try:
        email = normalise.email(raw or "")
    except ValueError:
        return None
    if not email:
        return None
    return contact_id_with_email(email, exclude_id=exclude_id)


def _with_duplicate_email(
    user: User, form: ContactForm, errors: Sequence[FieldError], *, exclude_id: int | None = None
) -> tuple[list[FieldError], Contact | None]:
    """Add the duplicate-email error the service would raise next, so that one submit shows every problem."""
    if any(e.field == "email" for e in errors):
        return list(errors), None
    holder = _email_holder(form.cleaned_data.get("email", ""), exclude_id=exclude_id)
    if holder is None:
        return list(errors), None
    return [*errors, FieldError("email", "is already used by another contact.")], _duplicate(user, holder)


def _duplicate(user: User, existing_id: int | None) -> Contact | None:
    """The contact a duplicate email belongs to, if the user may see it (to link to it)."""
    if existing_id is None:
        return None
    return visible_contact(user, existing_id)


@login_required
@require_http_methods(["GET", "POST"])
def contact_create(request: HttpRequest) -> HttpResponse:
    """Create a contact; problems are shown next to their fields."""
    user = _user(request)
    _require(user, "records.change")
    custom_fields = custom_fields_for(ObjectType.CONTACT)
    validate_url = _validate_url("contacts:contact_validate", None)
    if request.method == "POST":
        form = ContactForm(request.POST, user=user, custom_fields=custom_fields, validate_url=validate_url)
        form.is_valid()
        try:
            contact = services.contact_create(actor=user, via=Via.PAGE, data=form.service_data(), from_text=True)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _contact_form_page(request, form, None, status=409, duplicate=_duplicate(user, exc.existing_id))
        except ValidationFailed as exc:
            errors, duplicate = _with_duplicate_email(user, form, exc.errors)
            form.add_service_errors(errors, exc.message)
            return _contact_form_page(request, form, None, duplicate=duplicate)
        messages.success(request, f"Created {contact}.")
        return redirect(contact)
    # Consent starts unknown on every channel: nobody has agreed to anything yet.
    initial: dict[str, Any] = {"lifecycle_stage": LifecycleStage.LEAD}
    initial.update({f"consent_{c.value}": ConsentStatus.UNKNOWN for c in ConsentChannel})
    if user.role in (Role.SALES_REP, Role.SALES_MANAGER):
        initial["owner_id"] = user.pk
    if _as_id(request.GET.get("account")) is not None:
        initial["account_id"] = request.GET["account"].strip()
    form = ContactForm(initial=initial, user=user, custom_fields=custom_fields, validate_url=validate_url)
    return _contact_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a contact; a change made by someone else meanwhile is refused with the form kept."""
    user = _user(request)
    contact = _get_contact(user, pk)
    custom_fields = custom_fields_for(ObjectType.CONTACT)
    validate_url = _validate_url("contacts:contact_validate", contact)
    if request.method == "POST":
        # Compared with the record as it is now, so only what the user changed is written.
        form = ContactForm(
            request.POST,
            initial=ContactForm.initial_for(contact, custom_fields),
            user=user,
            custom_fields=custom_fields,
            validate_url=validate_url,
        )
        form.is_valid()
        version = form.cleaned_data.get("version")
        try:
            contact = services.contact_update(
                actor=user,
                via=Via.PAGE,
                contact_id=contact.pk,
                data=form.service_data(only=form.changed_fields()),
                expected_version=version,
                from_text=True,
            )
        except NotFound:
            raise Http404("No such contact.") from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            if exc.errors:
                form.add_service_errors(exc.errors, exc.message)
                return _contact_form_page(
                    request, form, contact, status=409, duplicate=_duplicate(user, exc.existing_id)
                )
            form.add_service_errors(
                [],
                "Someone else changed this contact since you opened it. Your changes are "
                "below, not saved: open the latest version, then make them again.",
            )
            return _contact_form_page(request, form, contact, status=409, stale=True)
        except ValidationFailed as exc:
            errors, duplicate = _with_duplicate_email(user, form, exc.errors, exclude_id=contact.pk)
            form.add_service_errors(errors, exc.message)
            return _contact_form_page(request, form, contact, duplicate=duplicate)
        messages.success(request, f"Saved {contact}.")
        return redirect(contact)
    form = ContactForm(
        initial=ContactForm.initial_for(contact, custom_fields),
        user=user,
        custom_fields=custom_fields,
        validate_url=validate_url,
    )
    return _contact_form_page(request, form, contact)


def _account_form_page(
    request: HttpRequest, form: AccountForm, account: Account | None, *, status: int | None = None, **extra: Any
) -> HttpResponse:
    user = _user(request)
    context = {
        "form": form,
        "account": account,
        "parent_choice": _account_choice(user, form["parent_id"].value()),
        "validate_url": _validate_url("contacts:account_validate", account),
        **extra,
    }
    return render(request, "contacts/account_form.html", context, status=status or (422 if form.errors else 200))


@login_required
@require_http_methods(["GET", "POST"])
def account_create(request: HttpRequest) -> HttpResponse:
    """Create an account; problems are shown next to their fields."""
    user = _user(request)
    _require(user, "records.change")
    custom_fields = custom_fields_for(ObjectType.ACCOUNT)
    validate_url = _validate_url("contacts:account_validate", None)
    if request.method == "POST":
        form = AccountForm(request.POST, user=user, custom_fields=custom_fields, validate_url=validate_url)
        form.is_valid()
        try:
            account = services.account_create(actor=user, via=Via.PAGE, data=form.service_data(), from_text=True)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except RapportError as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _account_form_page(request, form, None)
        messages.success(request, f"Created {account}.")
        return redirect(account)
    initial: dict[str, Any] = {"lifecycle_stage": LifecycleStage.LEAD, "currency": "USD"}
    if user.role in (Role.SALES_REP, Role.SALES_MANAGER):
        initial["owner_id"] = user.pk
    form = AccountForm(initial=initial, user=user, custom_fields=custom_fields, validate_url=validate_url)
    return _account_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit an account; a change made by someone else meanwhile is refused with the form kept."""
    user = _user(request)
    account = _get_account(user, pk)
    custom_fields = custom_fields_for(ObjectType.ACCOUNT)
    validate_url = _validate_url("contacts:account_validate", account)
    if request.method == "POST":
        form = AccountForm(
            request.POST,
            initial=AccountForm.initial_for(account, custom_fields),
            user=user,
            custom_fields=custom_fields,
            validate_url=validate_url,
        )
        form.is_valid()
        try:
            account = services.account_update(
                actor=user,
                via=Via.PAGE,
                account_id=account.pk,
                data=form.service_data(only=form.changed_fields()),
                expected_version=form.cleaned_data.get("version"),
                from_text=True,
            )
        except NotFound:
            raise Http404("No such account.") from None
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except Conflict as exc:
            if exc.errors or "external id" in exc.message:
                form.add_service_errors(
                    exc.errors or [FieldError("external_id", "is already used by another account.")], exc.message
                )
                return _account_form_page(request, form, account)
            form.add_service_errors(
                [],
                "Someone else changed this account since you opened it. Your changes are "
                "below, not saved: open the latest version, then make them again.",
            )
            return _account_form_page(request, form, account, status=409, stale=True)
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors, exc.message)
            return _account_form_page(request, form, account)
        messages.success(request, f"Saved {account}.")
        return redirect(account)
    form = AccountForm(
        initial=AccountForm.initial_for(account, custom_fields),
        user=user,
        custom_fields=custom_fields,
        validate_url=validate_url,
    )
    return _account_form_page(request, form, account)


def _field_check(request: HttpRequest, object_type: str) -> HttpResponse:
    """Check one input of a record form as soon as it changes, with the same rules as saving."""
    user = _user(request)
    is_contact = object_type == ObjectType.CONTACT
    custom_fields = custom_fields_for(object_type)
    form_class = ContactForm if is_contact else AccountForm
    form = form_class(request.POST, user=user, custom_fields=custom_fields)
    form.is_valid()
    name = (request.htmx.trigger_name if request.htmx else None) or request.POST.get("_field", "")  # type: ignore[attr-defined]
    if name not in form.fields:
        return HttpResponse("")
    data = form.service_data()
    if name.startswith(CUSTOM_PREFIX):
        key_ = name[len(CUSTOM_PREFIX) :]
        subset: dict[str, Any] = {"custom": {key_: data.get("custom", {}).get(key_)}}
    elif name.startswith("consent_"):
        subset = {"consent": {name[8:]: data["consent"].get(name[8:])}}
    else:
        subset = {name: data.get(name, "")}
        if name == "phone":
            subset["country"] = data.get("country", "")
    problems: list[str] = []
    lookups = Lookups.load(actor=user, object_type=object_type)
    try:
        cleaned = (clean_contact if is_contact else clean_account)(subset, lookups, partial=True, from_text=True)
    except ValidationFailed as exc:
        cleaned = {}
        problems = [e.message for e in exc.errors if form.service_field(e.field, e.message) == name]
    duplicate = None
    taken = False
    if is_contact and name == "email" and not problems and cleaned.get("email"):
        pk = request.GET.get("pk", "")
        existing_id = _email_holder(cleaned["email"], exclude_id=_as_id(pk))
        if existing_id is not None:
            taken = True
            duplicate = _duplicate(user, existing_id)
    from rapport.contacts.forms import _sentence

    label = str(form.fields[name].label)
    errors = [_sentence(label, p) for p in problems]
    if taken:
        errors.append(f"{label} is already used by another contact.")
    return render(request, "contacts/_field_errors.html", {"errors": errors, "duplicate": duplicate})


@login_required
@require_POST
def contact_validate(request: HttpRequest) -> HttpResponse:
    """htmx: the errors for one contact form input, or nothing."""
    return _field_check(request, ObjectType.CONTACT)


@login_required
@require_POST
def account_validate(request: HttpRequest) -> HttpResponse:
    """htmx: the errors for one account form input, or nothing."""
    return _field_check(request, ObjectType.ACCOUNT)


@login_required
def account_suggest(request: HttpRequest) -> HttpResponse:
    """htmx: accounts matching what was typed in an account picker (only those the user may see)."""
    user = _user(request)
    text = (request.GET.get("account_search") or request.GET.get("q") or "").strip()
    accounts: list[Account] = []
    if text:
        accounts = account_suggestions(user, text, exclude_id=_as_id(request.GET.get("exclude")), limit=8)
    return render(request, "contacts/_account_suggestions.html", {"accounts": accounts, "text": text})


@login_required
@require_http_methods(["GET", "POST"])
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete a contact (hidden and restorable, as every delete)."""
    user = _user(request)
    contact = _get_contact(user, pk)
    _require(user, "records.delete")
    if request.method == "POST":
        try:
            deleted = services.contacts_delete(actor=user, via=Via.PAGE, contact_ids=[contact.pk])
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        if not deleted:
            raise Http404("No such contact.")
        messages.success(request, f"Deleted {contact}.")
        return redirect("contacts:contact_list")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "record": contact,
            "kind": "contact",
            "cancel": contact.get_absolute_url(),
            "action": reverse("contacts:contact_delete", args=[pk]),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask, then delete an account; its contacts stay."""
    user = _user(request)
    account = _get_account(user, pk)
    _require(user, "records.delete")
    if request.method == "POST":
        try:
            deleted = services.accounts_delete(actor=user, via=Via.PAGE, account_ids=[account.pk])
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        if not deleted:
            raise Http404("No such account.")
        messages.success(request, f"Deleted {account}. Its contacts were kept.")
        return redirect("contacts:account_list")
    return render(
        request,
        "contacts/confirm_delete.html",
        {
            "record": account,
            "kind": "account",
            "cancel": account.get_absolute_url(),
            "action": reverse("contacts:account_delete", args=[pk]),
        },
    )


# --- Exports --------------------------------------------------------------------------------------------


def _export(request: HttpRequest, object_type: str, fmt: str) -> HttpResponseBase:
    user = _user(request)
    _require(user, "records.export")
    fmt = fmt.lower()
    if fmt not in exporting.FORMATS or (exporting.FORMATS[fmt] == "vcf" and object_type != ObjectType.CONTACT):
        raise Http404("No such export format.")
    fmt = exporting.FORMATS[fmt]
    try:
        filters = parse_filters(request.GET, object_type=object_type)
    except ValidationFailed as exc:
        return render(
            request,
            "core/error.html",
            {"status": 422, "title": "The filters are not valid", "message": str(exc)},
            status=422,
        )
    export = exporting.export_prepare(user=user, object_type=object_type, filters=filters)
    filename = exporting.export_filename(object_type, fmt)
    if fmt == "xlsx":
        return FileResponse(
            exporting.xlsx_tempfile(export),
            as_attachment=True,
            filename=filename,
            content_type=exporting.CONTENT_TYPES["xlsx"],
        )
    chunks = exporting.csv_chunks(export) if fmt == "csv" else exporting.vcard_chunks(export)
    response = StreamingHttpResponse(chunks, content_type=exporting.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def contact_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The contact list with its filters as CSV, XLSX or vCard: only the contacts the user may see."""
    return _export(request, ObjectType.CONTACT, fmt)


@login_required
def account_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The account list with its filters as CSV or XLSX: only the accounts the user may see."""
    return _export(request, ObjectType.ACCOUNT, fmt)


@login_required
def contact_vcard(request: HttpRequest, pk: int) -> HttpResponse:
    """One contact as a vCard, to add to an address book."""
    contact = _get_contact(_user(request), pk)
    contact = contact_for_vcard(contact.pk)
    response = HttpResponse(exporting.vcard(contact), content_type=exporting.CONTENT_TYPES["vcf"])
    name = normalise.key(contact.full_name or contact.email or f"contact {contact.pk}").replace(" ", "-")
    safe = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "-_.@")) or f"contact-{contact.pk}"
    response["Content-Disposition"] = f'attachment; filename="{safe}.vcf"'
    return response


# --- Search -----------------------------------------------------------------------------------------------


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Global search: a drop-down under the header box (htmx), or a results page when submitted."""
    user = _user(request)
    q = (request.GET.get("q") or "").strip()[:200]
    partial = bool(request.htmx) and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    results = global_search(user, q, limit=6 if partial else 50)
    context = {"q": q, "contacts": results["contacts"], "accounts": results["accounts"], "too_short": 0 < len(q) < 2}
    response = render(request, "contacts/_search_dropdown.html" if partial else "contacts/search.html", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- Saved views -------------------------------------------------------------------------------------------


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    """Save the current list (filters, sort and columns) under a name, optionally shared with everyone."""
    user = _user(request)
    object_type = request.POST.get("object_type", "")
    list_name = "contacts:account_list" if object_type == ObjectType.ACCOUNT else "contacts:contact_list"
    params = QueryDict(request.POST.get("query", ""))
    columns = [part for value in params.getlist("cols") for part in value.split(",") if part.strip()]
    query = query_string(params)
    try:
        view = services.saved_view_save(
            user=user,
            object_type=object_type,
            name=request.POST.get("name", ""),
            query=query,
            columns=columns,
            shared=bool(request.POST.get("shared")),
        )
    except RapportError as exc:
        messages.error(
            request,
            "The view was not saved: " + "; ".join(e.message for e in exc.errors) if exc.errors else exc.message,
        )
        return redirect(reverse(list_name) + (f"?{query}" if query else ""))
    messages.success(request, f"Saved the view “{view.name}”" + (", shared with everyone." if view.shared else "."))
    return redirect(saved_view_url(view))


@login_required
@require_http_methods(["GET", "POST"])
def saved_views(request: HttpRequest) -> HttpResponse:
    """The user's saved views and those others shared; delete one's own."""
    user = _user(request)
    if request.method == "POST":
        view_id = _as_id(request.POST.get("delete"))
        try:
            if view_id is None:
                raise NotFound("No such saved view.")
            services.saved_view_delete(user=user, view_id=view_id)
        except NotFound:
            messages.error(request, "That view doesn't exist or isn't yours to delete.")
        else:
            messages.success(request, "The view has been deleted.")
        return redirect("contacts:saved_views")
    own, shared = saved_views_own_and_shared(user)
    for view in [*own, *shared]:
        view.url = saved_view_url(view)  # type: ignore[attr-defined]
    return render(request, "contacts/saved_views.html", {"own": own, "shared": shared})


__all__ = [
    "account_bulk",
    "account_create",
    "account_delete",
    "account_detail",
    "account_edit",
    "account_export",
    "account_list",
    "account_suggest",
    "account_validate",
    "contact_bulk",
    "contact_create",
    "contact_delete",
    "contact_detail",
    "contact_edit",
    "contact_export",
    "contact_list",
    "contact_validate",
    "contact_vcard",
    "saved_view_save",
    "saved_views",
    "search",
]
