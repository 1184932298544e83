from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from connlogs.api import auth_views, export_views, views

urlpatterns = [
    path("connectionlog", views.ConnectionLogListView.as_view(), name="api-connectionlog"),
    path(
        "connectionlog/export",
        export_views.ConnectionLogExportView.as_view(),
        name="api-connectionlog-export",
    ),
    path("users/login", auth_views.LoginView.as_view(), name="api-login"),
    path("users/logout", auth_views.LogoutView.as_view(), name="api-logout"),
    path(
        "users/<str:user>/keys/tokens",
        auth_views.TokenCreateView.as_view(),
        name="api-user-tokens",
    ),
    path("openapi.json", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
