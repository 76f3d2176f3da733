"""Forms for core pages."""

from __future__ import annotations

from django import forms

from rapport.core.models import ApiToken


class TokenForm(forms.Form):
    """Create an API token."""

    name = forms.CharField(max_length=100, required=False, help_text="What the token is for, e.g. 'Website sync'.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, label="Expires in (days)", help_text="Leave empty to never expire."
    )
