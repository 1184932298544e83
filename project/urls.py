from django.contrib import admin
from django.urls import include, path

from connlogs import health, metrics

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v2/", include("connlogs.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("connlogs.urls")),
]

# Error answers without internals: JSON in the contract's shape under /api/, a plain page
# elsewhere (connlogs/middleware.py).
handler400 = "connlogs.middleware.handler400"
handler403 = "connlogs.middleware.handler403"
handler404 = "connlogs.middleware.handler404"
handler500 = "connlogs.middleware.handler500"
