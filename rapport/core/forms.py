"""Forms for core pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm

from rapport.core.models import ApiToken


class BootstrapFormMixin:
    """Give a form's inputs Bootstrap's classes, and mark the ones with errors as invalid.

    ``core/_form_fields.html`` renders the labels, errors and help; the inputs carry their own classes.
    """

    fields: dict[str, forms.Field]
    errors: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.HiddenInput | forms.CheckboxInput | forms.CheckboxSelectMultiple):
                continue
            widget.attrs.setdefault("class", "form-select" if isinstance(widget, forms.Select) else "form-control")

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                classes = widget.attrs.get("class", "").split()
                if "is-invalid" not in classes:
                    widget.attrs["class"] = " ".join([*classes, "is-invalid"])
                widget.attrs["aria-invalid"] = "true"


class TokenForm(BootstrapFormMixin, forms.Form):
    """Create an API token."""

    name = forms.CharField(max_length=100, required=False, help_text="What the token is for, e.g. 'Website sync'.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires in (days)", help_text="Leave empty to never expire."
    )


class PasswordForm(BootstrapFormMixin, PasswordChangeForm):
    """Change one's own password (Django's form, with Bootstrap's classes)."""
