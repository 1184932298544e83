# The change feed (connlogs.feed) and saved views (connlogs.savedviews).
#
# feed entries: seq (bigint identity; on PostgreSQL numbered under an advisory lock, in
# commit order), the row's id without a foreign-key constraint (retention deletes rows and
# trims entries on its own schedule), the action and the time recorded. Only the primary key
# is indexed: readers walk entries by seq and probe the log by id; one index keeps the
# insert that ingest adds to every batch cheap.

import connlogs.savedviews.models
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connlogs', '0007_search_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='FeedState',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('trimmed_through', models.BigIntegerField(default=0)),
                ('trimmed_at', models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.CreateModel(
            name='FeedEntry',
            fields=[
                ('seq', models.BigAutoField(primary_key=True, serialize=False)),
                ('action', models.PositiveSmallIntegerField(choices=[(1, 'created'), (2, 'updated')])),
                ('recorded_at', models.DateTimeField()),
                ('log', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='feed_entries', to='connlogs.connectionlog')),
            ],
            options={
                'verbose_name_plural': 'feed entries',
            },
        ),
        migrations.CreateModel(
            name='SavedView',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=100)),
                ('q', models.TextField(blank=True, default='')),
                ('page_size', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('time_zone', models.CharField(blank=True, default='', max_length=64)),
                ('columns', models.JSONField(blank=True, null=True)),
                ('sharing', models.CharField(choices=[('personal', 'Personal'), ('organization', 'Organization'), ('everyone', 'Everyone')], default='personal', max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organization', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='saved_views', to='connlogs.organization')),
                ('owner', models.ForeignKey(blank=True, null=True, on_delete=connlogs.savedviews.models.keep_shared_views, related_name='saved_views', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='StartView',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('preset', models.CharField(blank=True, default='', max_length=64)),
                ('view', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='connlogs.savedview')),
            ],
        ),
        migrations.AddConstraint(
            model_name='savedview',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('organization__isnull', True), ('owner__isnull', False), ('sharing', 'personal')), models.Q(('organization__isnull', False), ('sharing', 'organization')), models.Q(('organization__isnull', True), ('sharing', 'everyone')), _connector='OR'), name='saved_view_sharing_valid'),
        ),
        migrations.AddConstraint(
            model_name='startview',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('preset', ''), ('view__isnull', False)), models.Q(('view__isnull', True), models.Q(('preset', ''), _negated=True)), _connector='OR'), name='start_view_one_choice'),
        ),
    ]
