"""The sales pages: each area's views module lists its own routes."""

from rapport.sales.views import activities, messaging, orders, pipeline, reports

app_name = "sales"

urlpatterns = [
    *orders.urlpatterns,
    *pipeline.urlpatterns,
    *activities.urlpatterns,
    *messaging.urlpatterns,
    *reports.urlpatterns,
]
