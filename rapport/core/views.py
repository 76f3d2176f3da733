"""Pages for logging in and out, the dashboard, settings, users, API tokens and error pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from rapport.core import forms, services
from rapport.core.access import can
from rapport.core.errors import RapportError
from rapport.core.models import Via
from rapport.core.queries import api_tokens_of


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: the connection's, or behind trusted proxies the one they forwarded."""
    proxies = settings.TRUSTED_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        # Each proxy appends the address it received the request from; earlier entries can be forged.
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR") or None


class LoginView(auth_views.LoginView):
    """Log-in that refuses further attempts for a while after repeated failures."""

    template_name = "core/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        if services.login_throttled(username=username, address=client_address(request)):
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, "Too many failed log-ins. Wait 15 minutes, or ask an admin to reset your password.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        services.login_failed(username=self.request.POST.get("username", ""), address=client_address(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        services.login_succeeded(username=form.get_user().username)
        return super().form_valid(form)


class PasswordChangeView(auth_views.PasswordChangeView):
    """Change one's own password."""

    template_name = "core/password_change.html"
    form_class = forms.PasswordForm
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, "Your password has been changed.")
        return super().form_valid(form)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The home page: a summary of the records the user can see (later issues add more)."""
    from rapport.contacts.queries import dashboard_summary

    return render(request, "core/dashboard.html", {"summary": dashboard_summary(request.user)})


@login_required
def coming_soon(request: HttpRequest, area: str) -> HttpResponse:
    """Placeholder for areas that arrive in later releases."""
    titles = {
        "pipeline": ("Pipeline", "Opportunities, stages and forecasts"),
        "campaigns": ("Campaigns", "Campaigns, email and automation journeys"),
        "segments": ("Segments", "Live segments, RFM and look-alike audiences"),
        "service": ("Service", "Tickets, SLAs and the knowledge base"),
        "reports": ("Reports", "Lifecycle, attribution and revenue reports"),
    }
    title, description = titles.get(area, (area.title(), ""))
    return render(request, "core/coming_soon.html", {"title": title, "description": description, "area": area})


@login_required
def settings_home(request: HttpRequest) -> HttpResponse:
    """Settings hub: links to what the user may configure."""
    return render(request, "core/settings.html", {"can_manage": can(request.user, "settings.manage")})


# The session key that carries a new token's secret across the redirect after creating it, once.
NEW_SECRET_KEY = "new_api_token_secret"  # noqa: S105 - a session key name, not a secret


@login_required
@never_cache  # the page may show a secret: no copy of it in any cache
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """The user's own API tokens: create (the secret shown once) and revoke.

    A created token redirects (POST/redirect/GET), so reloading the page can't create a second one;
    the secret rides in the session to the next page view, which removes it.
    """
    user = request.user
    form = forms.TokenForm(request.POST or None)
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                services.token_revoke(token_ref=request.POST["revoke"], actor=user, via=Via.PAGE, user=user)  # type: ignore[arg-type]
                messages.success(request, "The token has been revoked; requests using it now get 401.")
            except RapportError as exc:
                messages.error(request, exc.message)
            return redirect("tokens")
        if form.is_valid():
            try:
                _, secret = services.token_create(
                    user=user,  # type: ignore[arg-type]
                    scope=form.cleaned_data["scope"],
                    name=form.cleaned_data["name"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    actor=user,  # type: ignore[arg-type]
                    via=Via.PAGE,
                )
            except RapportError as exc:
                form.add_error(None, str(exc))
            else:
                request.session[NEW_SECRET_KEY] = secret
                return redirect("tokens")
    context = {
        "form": form,
        "new_secret": request.session.pop(NEW_SECRET_KEY, None) if request.method == "GET" else None,
        "tokens": api_tokens_of(user),  # type: ignore[arg-type]
    }
    return render(request, "core/tokens.html", context)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"status": 400, "title": "Bad request", "message": "The request could not be understood."},
        status=400,
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "Your role doesn't allow this."
    return render(request, "core/error.html", {"status": 403, "title": "Not allowed", "message": message}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"status": 404, "title": "Not found", "message": "This page doesn't exist, or you don't have access to it."},
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"status": 500, "title": "Something went wrong", "message": "The error has been logged. Please try again."},
        status=500,
    )
