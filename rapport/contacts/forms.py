"""Forms for the contact, account and custom-field pages.

The record forms render inputs and gather what was typed; they do not validate. The values go, as
text, to the services (``contact_create``, ``account_update`` ...), the one place that validates, and
the services' ``FieldError`` names (``email``, ``custom.<key>``, ``consent.email``) are mapped back to
the form's fields so that every error shows next to its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django import forms
from django.forms.boundfield import BoundField
from django_countries import countries

from rapport.contacts.models import (
    Account,
    ConsentChannel,
    ConsentStatus,
    Contact,
    CustomField,
    LifecycleStage,
    ObjectType,
    Seniority,
    SizeBand,
)
from rapport.contacts.validation import ACCOUNT_FIELDS, CONTACT_FIELDS
from rapport.core.errors import FieldError
from rapport.core.models import PartnerOrganisation, Role, User
from rapport.core.queries import record_owners

CUSTOM_PREFIX = "cf_"
# Service error messages that read as the end of a sentence whose subject is the field ("is required.").
_PREDICATES = ("is ", "are ", "must ", "can't ", "cannot ", "has ", "does ", "should ")


class _Lenient(forms.MultipleChoiceField):
    """Checkboxes whose values the service checks, so that its message is the one shown."""

    def valid_value(self, value: str) -> bool:
        return True


def _select(choices: Iterable[tuple[str, str]]) -> forms.Select:
    return forms.Select(choices=list(choices), attrs={"class": "form-select"})


def country_choices() -> list[tuple[str, str]]:
    """Countries by name, for select boxes."""
    return [("", "—")] + [(code, str(name)) for code, name in countries]


def owner_choices() -> list[tuple[str, str]]:
    """Active internal users who may own records (partners can't)."""
    return [("", "— No owner —")] + [(str(u.pk), u.display_name) for u in record_owners()]


def custom_form_field(definition: CustomField) -> forms.Field:
    """The input for one custom field, by its type; required ones are marked but checked by the service."""
    kind = definition.field_type
    common: dict[str, Any] = {"label": definition.label, "required": False, "help_text": definition.help_text}
    field: Any
    if kind == CustomField.FieldType.NUMBER:
        field = forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    elif kind == CustomField.FieldType.DATE:
        field = forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    elif kind == CustomField.FieldType.CHOICE:
        field = forms.CharField(widget=_select([("", "—"), *((c, c) for c in definition.choices)]), **common)
    elif kind == CustomField.FieldType.MULTI_CHOICE:
        field = _Lenient(choices=[(c, c) for c in definition.choices], widget=forms.CheckboxSelectMultiple, **common)
    elif kind == CustomField.FieldType.BOOLEAN:
        # Three states, so that "not answered" stays distinct from "no".
        field = forms.CharField(widget=_select([("", "—"), ("true", "Yes"), ("false", "No")]), **common)
    else:
        field = forms.CharField(**common)
    field.custom_definition = definition
    field.marked_required = definition.required
    return field


def custom_initial(definition: CustomField, value: object) -> object:
    """A stored custom value as the form shows it."""
    if value is None:
        return [] if definition.field_type == CustomField.FieldType.MULTI_CHOICE else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return value


def _sentence(label: str, message: str) -> str:
    """Make a service message read well next to its field ("is required." → "Email is required.")."""
    message = message.strip()
    if message.startswith(_PREDICATES):
        return f"{label} {message}"
    return message[:1].upper() + message[1:]


# The inputs sent to the services as they are: every field the validation accepts, except consent and
# custom fields, which the forms nest separately.
CONTACT_INPUTS = tuple(sorted(CONTACT_FIELDS - {"consent", "custom"}))
ACCOUNT_INPUTS = tuple(sorted(ACCOUNT_FIELDS - {"custom"}))


class RecordForm(forms.Form):
    """Shared behaviour of the contact and account forms: custom fields, CSS classes, service errors."""

    object_type = ""
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        custom_fields: Sequence[CustomField] = (),
        initial: Mapping[str, Any] | None = None,
        validate_url: str = "",
    ) -> None:
        super().__init__(data, initial=dict(initial) if initial is not None else None)
        self.custom_fields = list(custom_fields)
        for definition in self.custom_fields:
            self.fields[CUSTOM_PREFIX + definition.key] = custom_form_field(definition)
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput | forms.CheckboxSelectMultiple):
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)
            if validate_url and name in self.validated_fields():
                widget.attrs.update(
                    {
                        "hx-post": validate_url,
                        "hx-trigger": "change",
                        "hx-target": f"#err-{name}",
                        "hx-swap": "innerHTML",
                    }
                )
            widget.attrs["aria-describedby"] = f"err-{name}"

    def validated_fields(self) -> set[str]:
        """Inputs checked with the server as soon as they change (htmx)."""
        return {name for name in self.fields if name.startswith(CUSTOM_PREFIX)}

    def custom_bound_fields(self) -> list[BoundField]:
        """The custom fields' inputs, in their defined order."""
        return [self[CUSTOM_PREFIX + d.key] for d in self.custom_fields]

    def custom_data(self, only: set[str] | None = None) -> dict[str, object]:
        """Custom field values as typed, keyed by the custom field's key (only those in ``only``, if given)."""
        values: dict[str, object] = {}
        for definition in self.custom_fields:
            name = CUSTOM_PREFIX + definition.key
            if only is None or name in only:
                values[definition.key] = self.cleaned_data.get(name)
        return values

    def changed_fields(self) -> set[str]:
        """The inputs whose value differs from the record's (the form's ``initial``)."""
        return {name for name in self.changed_data if name != "version"}

    def service_field(self, error_field: str, message: str) -> str | None:
        """The form field a service error belongs to (None: shown above the form)."""
        custom = error_field.startswith("custom.")
        name = CUSTOM_PREFIX + error_field[len("custom.") :] if custom else error_field
        return name if name in self.fields else None

    def add_service_errors(self, errors: Sequence[FieldError], message: str = "") -> None:
        """Show each service error next to its input, or above the form when it names no input."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        if not errors and message:
            self.add_error(None, message)
        for error in errors:
            name = self.service_field(error.field, error.message)
            if name is None:
                text = f"{error.field}: {error.message}" if error.field else error.message
                self.add_error(None, text)
            else:
                self.add_error(name, _sentence(str(self.fields[name].label), error.message))
        self.mark_invalid()

    def mark_invalid(self) -> None:
        """Give inputs with errors Bootstrap's ``is-invalid`` style and ``aria-invalid``."""
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
                widget.attrs["aria-invalid"] = "true"


class ContactForm(RecordForm):
    """Create or edit a contact."""

    object_type = ObjectType.CONTACT

    first_name = forms.CharField(
        required=False, label="First name", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    last_name = forms.CharField(
        required=False, label="Last name", widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    email = forms.CharField(required=False, label="Email", widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    phone = forms.CharField(
        required=False,
        label="Phone",
        widget=forms.TextInput(attrs={"type": "tel"}),
        help_text="With its country code, e.g. +49 30 1234567; otherwise read in the contact's country.",
    )
    job_title = forms.CharField(required=False, label="Job title")
    seniority = forms.CharField(
        required=False, label="Seniority", widget=_select([("", "Derived from the job title"), *Seniority.choices])
    )
    department = forms.CharField(required=False, label="Department")
    account_id = forms.CharField(required=False, label="Account", widget=forms.HiddenInput)
    street = forms.CharField(required=False, label="Street")
    postal_code = forms.CharField(required=False, label="Postal code")
    city = forms.CharField(required=False, label="City")
    region = forms.CharField(required=False, label="Region")
    country = forms.CharField(required=False, label="Country")
    lifecycle_stage = forms.CharField(required=False, label="Lifecycle stage", widget=_select(LifecycleStage.choices))
    owner_id = forms.CharField(required=False, label="Owner")
    source = forms.CharField(required=False, label="Source", help_text="Where the contact first came from.")
    tags = forms.CharField(required=False, label="Tags", help_text="Separate tags with commas.")
    external_id = forms.CharField(required=False, label="External id", help_text="The contact's id in another system.")
    consent_email = forms.CharField(
        required=False, label="Email consent", initial=ConsentStatus.UNKNOWN, widget=_select(ConsentStatus.choices)
    )
    consent_phone = forms.CharField(
        required=False, label="Phone consent", initial=ConsentStatus.UNKNOWN, widget=_select(ConsentStatus.choices)
    )
    consent_sms = forms.CharField(
        required=False, label="SMS consent", initial=ConsentStatus.UNKNOWN, widget=_select(ConsentStatus.choices)
    )
    consent_post = forms.CharField(
        required=False, label="Post consent", initial=ConsentStatus.UNKNOWN, widget=_select(ConsentStatus.choices)
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].widget = _select(country_choices())
        self.fields["country"].widget.attrs["aria-describedby"] = "err-country"
        if user.role == Role.PARTNER:
            # Partners can't see the internal users, so they leave ownership alone.
            del self.fields["owner_id"]
        else:
            self.fields["owner_id"].widget = _select(owner_choices())
            self.fields["owner_id"].widget.attrs["aria-describedby"] = "err-owner_id"

    def validated_fields(self) -> set[str]:
        return super().validated_fields() | {"email", "phone"}

    def consent_fields(self) -> list[BoundField]:
        """The four consent selects, one per channel."""
        return [self[f"consent_{c.value}"] for c in ConsentChannel]

    def service_field(self, error_field: str, message: str) -> str | None:
        if error_field.startswith("consent."):
            return f"consent_{error_field.split('.', 1)[1]}"
        if error_field == "consent":
            channel = message.split(":", 1)[0].strip()
            if channel in ConsentChannel.values:
                return f"consent_{channel}"
        if error_field == "seniority_manual":
            return "seniority"
        return super().service_field(error_field, message)

    def service_data(self, only: set[str] | None = None) -> dict[str, Any]:
        """What the service gets, as text, consent and custom fields nested: every input, or those in ``only``.

        Edits send only what changed, so that the record's provenance keeps the source of the values the
        user left alone.
        """
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in CONTACT_INPUTS:
            if name in self.fields and (only is None or name in only):
                out[name] = data.get(name) or ""
        consent = {
            c.value: data.get(f"consent_{c.value}") or ConsentStatus.UNKNOWN
            for c in ConsentChannel
            if only is None or f"consent_{c.value}" in only
        }
        if consent:
            out["consent"] = consent
        custom = self.custom_data(only)
        if custom:
            out["custom"] = custom
        return out

    @staticmethod
    def initial_for(contact: Contact, custom_fields: Sequence[CustomField]) -> dict[str, Any]:
        """The form's values for an existing contact."""
        initial: dict[str, Any] = {
            name: getattr(contact, name)
            for name in (
                "first_name",
                "last_name",
                "email",
                "phone",
                "job_title",
                "department",
                "street",
                "postal_code",
                "city",
                "region",
                "country",
                "lifecycle_stage",
                "source",
                "external_id",
                "consent_email",
                "consent_phone",
                "consent_sms",
                "consent_post",
                "version",
            )
        }
        initial["seniority"] = contact.seniority if contact.seniority_manual else ""
        initial["account_id"] = str(contact.account_id or "")
        initial["owner_id"] = str(contact.owner_id or "")
        initial["tags"] = ", ".join(t.name for t in contact.tags.all())
        for definition in custom_fields:
            initial[CUSTOM_PREFIX + definition.key] = custom_initial(definition, contact.custom.get(definition.key))
        return initial


class AccountForm(RecordForm):
    """Create or edit an account."""

    object_type = ObjectType.ACCOUNT

    name = forms.CharField(required=False, label="Name")
    domain = forms.CharField(required=False, label="Domain", help_text="The company's web domain, e.g. acme.com.")
    industry = forms.CharField(required=False, label="Industry")
    size_band = forms.CharField(required=False, label="Size", widget=_select([("", "—"), *SizeBand.choices]))
    annual_revenue = forms.CharField(
        required=False, label="Annual revenue", widget=forms.TextInput(attrs={"inputmode": "decimal"})
    )
    currency = forms.CharField(
        required=False, label="Currency", widget=forms.TextInput(attrs={"maxlength": 3, "size": 3})
    )
    country = forms.CharField(required=False, label="Country")
    region = forms.CharField(required=False, label="Region")
    city = forms.CharField(required=False, label="City")
    owner_id = forms.CharField(required=False, label="Owner")
    partner_organisation_id = forms.CharField(required=False, label="Shared with partner")
    parent_id = forms.CharField(required=False, label="Parent account", widget=forms.HiddenInput)
    lifecycle_stage = forms.CharField(required=False, label="Lifecycle stage", widget=_select(LifecycleStage.choices))
    external_id = forms.CharField(required=False, label="External id", help_text="The account's id in another system.")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["country"].widget = _select(country_choices())
        self.fields["country"].widget.attrs["aria-describedby"] = "err-country"
        if user.role == Role.PARTNER:
            del self.fields["owner_id"]
            del self.fields["partner_organisation_id"]
        else:
            self.fields["owner_id"].widget = _select(owner_choices())
            partners = [("", "— Not shared —")] + [
                (str(p.pk), p.name) for p in PartnerOrganisation.objects.order_by("name")
            ]
            self.fields["partner_organisation_id"].widget = _select(partners)
        for name in ("owner_id", "partner_organisation_id"):
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"err-{name}"

    def validated_fields(self) -> set[str]:
        return super().validated_fields() | {"domain", "annual_revenue", "currency"}

    def service_data(self, only: set[str] | None = None) -> dict[str, Any]:
        """What the service gets, as text, custom fields nested: every input, or those in ``only``."""
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in ACCOUNT_INPUTS:
            if name in self.fields and (only is None or name in only):
                out[name] = data.get(name) or ""
        if "currency" in out and not out["currency"]:
            del out["currency"]
        custom = self.custom_data(only)
        if custom:
            out["custom"] = custom
        return out

    @staticmethod
    def initial_for(account: Account, custom_fields: Sequence[CustomField]) -> dict[str, Any]:
        """The form's values for an existing account."""
        initial: dict[str, Any] = {
            name: getattr(account, name)
            for name in (
                "name",
                "domain",
                "industry",
                "size_band",
                "currency",
                "country",
                "region",
                "city",
                "lifecycle_stage",
                "external_id",
                "version",
            )
        }
        initial["annual_revenue"] = "" if account.annual_revenue is None else f"{account.annual_revenue:f}"
        initial["owner_id"] = str(account.owner_id or "")
        initial["partner_organisation_id"] = str(account.partner_organisation_id or "")
        initial["parent_id"] = str(account.parent_id or "")
        for definition in custom_fields:
            initial[CUSTOM_PREFIX + definition.key] = custom_initial(definition, account.custom.get(definition.key))
        return initial


class CustomFieldForm(forms.Form):
    """Define or change a custom field; key and type are fixed once the field exists."""

    object_type = forms.ChoiceField(label="Applies to", choices=ObjectType.choices)
    label = forms.CharField(label="Label", max_length=100, help_text="What users see, e.g. Preferred language.")
    key = forms.CharField(
        label="Key",
        max_length=50,
        help_text="Name in the API, imports and exports: lower-case letters, digits and underscores.",
    )
    field_type = forms.ChoiceField(label="Type", choices=CustomField.FieldType.choices)
    choices = forms.CharField(
        label="Choices",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="For choice and multiple-choice fields: one allowed value per line.",
    )
    required = forms.BooleanField(label="Required", required=False)
    help_text = forms.CharField(label="Help text", required=False, max_length=200, help_text="Shown under the input.")
    position = forms.IntegerField(label="Position", min_value=0, initial=0, help_text="Lower numbers come first.")

    def __init__(self, *args: Any, existing: CustomField | None = None, **kwargs: Any) -> None:
        if existing is not None:
            kwargs.setdefault(
                "initial",
                {
                    "object_type": existing.object_type,
                    "label": existing.label,
                    "key": existing.key,
                    "field_type": existing.field_type,
                    "choices": "\n".join(map(str, existing.choices)),
                    "required": existing.required,
                    "help_text": existing.help_text,
                    "position": existing.position,
                },
            )
        super().__init__(*args, **kwargs)
        if existing is not None:
            for name in ("object_type", "key", "field_type"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed once the field exists; define a new field to change it."
        else:
            # The key follows the label as it is typed (customFieldForm in app.js) until the admin types one.
            self.fields["label"].widget.attrs["x-on:input"] = "fillKey($event.target.value)"
            self.fields["key"].widget.attrs.update(
                {"x-ref": "key", "x-on:input": "keyTyped = $event.target.value !== ''"}
            )
            self.fields["key"].help_text = (
                "Filled in from the label; change it if you like. Name in the API, imports and exports: "
                "lower-case letters, digits and underscores. It can't be changed later."
            )
        for field in self.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "form-select")
            elif not isinstance(field.widget, forms.CheckboxInput):
                field.widget.attrs.setdefault("class", "form-control")

    def add_service_errors(self, errors: Sequence[FieldError], message: str) -> None:
        """Show the service's errors next to their inputs."""
        if not errors:
            self.add_error(None, message)
        for error in errors:
            if error.field in self.fields:
                self.add_error(error.field, _sentence(str(self.fields[error.field].label), error.message))
            else:
                self.add_error(None, error.message)
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
