"""Settings pages for custom fields: list them per record type, define new ones, change or delete them.

Admins only (``settings.manage``); everyone else gets a 403. Writes go through ``custom_field_save``
and ``custom_field_delete``.
"""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from rapport.contacts import services
from rapport.contacts.forms import CustomFieldForm
from rapport.contacts.models import CustomField, ObjectType
from rapport.contacts.queries import custom_field_get, custom_fields_all
from rapport.core.access import can
from rapport.core.errors import Forbidden, NotFound, RapportError
from rapport.core.models import User


def _admin(request: HttpRequest) -> User:
    user = cast(User, request.user)
    if not can(user, "settings.manage"):
        raise PermissionDenied("Only admins can define custom fields.")
    return user


def _save(request: HttpRequest, form: CustomFieldForm, user: User, existing: CustomField | None) -> CustomField | None:
    """Send a valid form to ``custom_field_save``; on a refusal, put its errors on the form."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        return services.custom_field_save(
            actor=user,
            object_type=data["object_type"],
            key=data["key"].strip(),
            label=data["label"],
            field_type=data["field_type"],
            choices=[line.strip() for line in data["choices"].splitlines()],
            required=data["required"],
            help_text=data["help_text"],
            position=data["position"] or 0,
            field_id=existing.pk if existing is not None else None,
        )
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except RapportError as exc:
        form.add_service_errors(exc.errors, exc.message)
        return None


@login_required
@require_http_methods(["GET", "POST"])
def custom_fields(request: HttpRequest) -> HttpResponse:
    """Custom fields per record type, and the form that defines a new one."""
    user = _admin(request)
    if request.method == "POST":
        form = CustomFieldForm(request.POST)
        saved = _save(request, form, user, None)
        if saved is not None:
            messages.success(request, f"Added the {saved.get_object_type_display().lower()} field “{saved.label}”.")
            return redirect("contacts:custom_fields")
    else:
        object_type = request.GET.get("object_type")
        form = CustomFieldForm(
            initial={"object_type": object_type if object_type in ObjectType.values else ObjectType.CONTACT}
        )
    fields = custom_fields_all()
    groups = [
        {"type": value, "label": label, "fields": [f for f in fields if f.object_type == value]}
        for value, label in ObjectType.choices
    ]
    return render(
        request, "contacts/custom_fields.html", {"form": form, "groups": groups}, status=422 if form.errors else 200
    )


@login_required
@require_http_methods(["GET", "POST"])
def custom_field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a custom field's label, choices, help, position and whether it's required; or delete it."""
    user = _admin(request)
    try:
        existing = custom_field_get(field_id=pk)
    except NotFound:
        raise Http404("No such custom field.") from None
    if request.method == "POST" and "delete" in request.POST:
        try:
            services.custom_field_delete(actor=user, field_id=existing.pk)
        except Forbidden as exc:
            raise PermissionDenied(exc.message) from None
        except NotFound:
            raise Http404("No such custom field.") from None
        messages.success(
            request, f"Deleted the field “{existing.label}”. Values already stored stay in the records' history."
        )
        return redirect("contacts:custom_fields")
    if request.method == "POST":
        form = CustomFieldForm(request.POST, existing=existing)
        saved = _save(request, form, user, existing)
        if saved is not None:
            messages.success(request, f"Saved the field “{saved.label}”.")
            return redirect("contacts:custom_fields")
    else:
        form = CustomFieldForm(existing=existing)
    return render(
        request,
        "contacts/custom_field_edit.html",
        {"form": form, "field": existing},
        status=422 if form.errors else 200,
    )
