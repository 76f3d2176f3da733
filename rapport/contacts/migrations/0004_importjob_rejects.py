"""Import jobs remember how many lines were committed and how large the rejected-rows file was (to resume
exactly), and whether they were a dry run."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_postgres_prefix_indexes")]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="dry_run",
            field=models.BooleanField(
                default=False, help_text="Run and rolled back: the counts show what would happen."
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="lines_read",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Physical lines (spreadsheet rows) committed so far, header included; a resumed run continues after them.",
            ),
        ),
        migrations.AddField(
            model_name="importjob",
            name="rejects_bytes",
            field=models.BigIntegerField(
                default=0,
                help_text="Size of the rejected-rows file at the last commit; a resumed run truncates the file to it.",
            ),
        ),
    ]
