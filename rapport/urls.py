"""URL routes: pages per app, the REST API under /api/v1/, and the Django admin under /admin/."""

from django.contrib import admin
from django.urls import include, path

from rapport.api import api

urlpatterns = [
    path("", include("rapport.core.urls")),
    path("", include("rapport.contacts.urls")),
    path("", include("rapport.sales.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]

handler400 = "rapport.core.views.bad_request"
handler403 = "rapport.core.views.permission_denied"
handler404 = "rapport.core.views.page_not_found"
handler500 = "rapport.core.views.server_error"
