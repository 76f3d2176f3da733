from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Users, roles, teams, territories, access control, API tokens and the audit log."""

    name = "rapport.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.db.models import Field

        from rapport.core.db import AnyOf

        Field.register_lookup(AnyOf)
