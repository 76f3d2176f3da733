"""PostgreSQL-only indexes for prefix search (``LIKE 'abc%'``) on name keys, whatever the database collation.

SQLite searches prefixes with range conditions that the ordinary indexes already serve.
"""

from django.db import migrations

INDEXES = {
    "contact_last_name_prefix_idx": ("contacts_contact", "last_name_key"),
    "account_name_prefix_idx": ("contacts_account", "name_key"),
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, (table, column) in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_initial")]

    operations = [migrations.RunPython(create, drop)]
