from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/v2/", include("connlogs.api.urls")),
    path("admin/", admin.site.urls),
    path("", include("connlogs.urls")),
]
