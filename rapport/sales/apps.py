from django.apps import AppConfig


class SalesConfig(AppConfig):
    """Products and orders, pipelines and opportunities, tasks, appointments, messaging and sales reports."""

    name = "rapport.sales"
    label = "sales"
    verbose_name = "Sales"
