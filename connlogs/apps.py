from django.apps import AppConfig


class ConnlogsConfig(AppConfig):
    name = "connlogs"
    verbose_name = "Connection logs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from connlogs.api import schema  # noqa: F401 - registers the OpenAPI auth extension
        from connlogs.privacy import deferred

        deferred.connect()
