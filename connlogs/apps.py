from django.apps import AppConfig


class ConnlogsConfig(AppConfig):
    name = "connlogs"
    verbose_name = "Connection logs"
    default_auto_field = "django.db.models.BigAutoField"
