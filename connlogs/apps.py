from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ConnlogsConfig(AppConfig):
    name = "connlogs"
    verbose_name = "Connection logs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connlogs import prepared
        from connlogs.accesslog import writer
        from connlogs.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from connlogs.privacy import deferred
        from connlogs.search import lookups
        from connlogs.streams import checks  # noqa: F401 - registers the secrets key's checks

        deferred.connect()
        writer.connect()
        lookups.register_lookups()
        connection_created.connect(
            lookups.register_sqlite_functions, dispatch_uid="connlogs-sqlite-functions"
        )
        connection_created.connect(prepared.install, dispatch_uid="connlogs-prepared")
