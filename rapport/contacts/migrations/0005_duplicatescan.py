"""Duplicate scans are recorded (who asked, when they ran, what they found); a record's pairs are found by either id."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0004_importjob_rejects'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DuplicateScan',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('object_type', models.CharField(choices=[('contact', 'Contact'), ('account', 'Account')], max_length=10)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=8)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('records', models.PositiveIntegerField(default=0, help_text='Records read, summed over the blocking passes.')),
                ('comparisons', models.BigIntegerField(default=0, help_text='Pairs of records compared.')),
                ('pairs', models.PositiveIntegerField(default=0, help_text='Likely duplicate pairs found.')),
                ('error', models.TextField(blank=True)),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='duplicatecandidate',
            index=models.Index(fields=['object_type', 'second_id'], name='duplicate_second_idx'),
        ),
        migrations.AddField(
            model_name='duplicatescan',
            name='requested_by',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='duplicatescan',
            index=models.Index(fields=['object_type', '-requested_at'], name='duplicate_scan_recent_idx'),
        ),
    ]
