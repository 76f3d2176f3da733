"""Template context shared by every page: the navigation and what the user may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from rapport.core.access import CAPABILITIES, can

# (label, url name or area, icon, section prefix used to mark the active item)
NAVIGATION = [
    ("Contacts", "contacts:contact_list", "bi-person", "/contacts"),
    ("Accounts", "contacts:account_list", "bi-building", "/accounts"),
    ("Pipeline", "pipeline", "bi-kanban", "/soon/pipeline"),
    ("Campaigns", "campaigns", "bi-megaphone", "/soon/campaigns"),
    ("Segments", "segments", "bi-diagram-3", "/soon/segments"),
    ("Service", "service", "bi-life-preserver", "/soon/service"),
    ("Reports", "reports", "bi-bar-chart", "/soon/reports"),
    ("Settings", "settings", "bi-gear", "/settings"),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Navigation items with the active one marked, and the user's capabilities as ``perms_rapport``."""
    items = []
    for label, target, icon, prefix in NAVIGATION:
        url = reverse(target) if ":" in target or target == "settings" else reverse("coming_soon", args=[target])
        items.append({"label": label, "url": url, "icon": icon, "active": request.path.startswith(prefix)})
    user = getattr(request, "user", None)
    capabilities = {c.replace(".", "_"): bool(user and can(user, c)) for c in CAPABILITIES}
    return {"nav_items": items, "perms_rapport": capabilities}
