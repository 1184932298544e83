from django.urls import path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView

from connlogs.api import (
    access_views,
    alert_views,
    auth_views,
    directory,
    event_views,
    export_views,
    feed_views,
    saved_views,
    stream_views,
    views,
    workspace_views,
)

urlpatterns = [
    path("connectionlog", views.ConnectionLogListView.as_view(), name="api-connectionlog"),
    path(
        "connectionlog/export",
        export_views.ConnectionLogExportView.as_view(),
        name="api-connectionlog-export",
    ),
    path(
        "connectionlog/exports/<str:name>.sha256",
        access_views.ExportChecksumView.as_view(),
        name="api-connectionlog-export-checksum",
    ),
    path("accesslog", access_views.AccessLogListView.as_view(), name="api-accesslog"),
    path(
        "accesslog/export",
        access_views.AccessLogExportView.as_view(),
        name="api-accesslog-export",
    ),
    # The change feed and saved views (docs/api.md, "Following changes", "Saved views").
    path(
        "connectionlog/changes",
        feed_views.ConnectionLogChangesView.as_view(),
        name="api-connectionlog-changes",
    ),
    path("connectionlog/views", saved_views.SavedViewListView.as_view(), name="api-saved-views"),
    path(
        "connectionlog/views/<str:view>",
        saved_views.SavedViewDetailView.as_view(),
        name="api-saved-view",
    ),
    path(
        "connectionlog/start-view",
        saved_views.StartViewView.as_view(),
        name="api-start-view",
    ),
    # Alert rules (docs/alerts.md).
    path(
        "connectionlog/alerts/rules",
        alert_views.AlertRuleListView.as_view(),
        name="api-alert-rules",
    ),
    path(
        "connectionlog/alerts/rules/<str:rule>",
        alert_views.AlertRuleDetailView.as_view(),
        name="api-alert-rule",
    ),
    path(
        "connectionlog/alerts/firings",
        alert_views.AlertFiringListView.as_view(),
        name="api-alert-firings",
    ),
    # Streams to a SIEM (docs/api.md, "Streams").
    path("connectionlog/streams", stream_views.StreamListView.as_view(), name="api-streams"),
    path(
        "connectionlog/streams/<str:stream>",
        stream_views.StreamDetailView.as_view(),
        name="api-stream",
    ),
    path(
        "connectionlog/streams/<str:stream>/pause",
        stream_views.StreamPauseView.as_view(),
        name="api-stream-pause",
    ),
    path(
        "connectionlog/streams/<str:stream>/resume",
        stream_views.StreamResumeView.as_view(),
        name="api-stream-resume",
    ),
    path("users/login", auth_views.LoginView.as_view(), name="api-login"),
    path("users/logout", auth_views.LogoutView.as_view(), name="api-logout"),
    path(
        "users/<str:user>/keys/tokens",
        auth_views.TokenCreateView.as_view(),
        name="api-user-tokens",
    ),
    # The write API (write-api.md). users/login and users/logout above win over users/<user>.
    path(
        "connectionlog/events",
        event_views.ConnectionEventsView.as_view(),
        name="api-connectionlog-events",
    ),
    path("users", directory.UserCreateView.as_view(), name="api-users"),
    path("users/<str:user>", directory.UserDetailView.as_view(), name="api-user"),
    path("users/<str:user>/roles", directory.UserRolesView.as_view(), name="api-user-roles"),
    path("organizations", directory.OrganizationCreateView.as_view(), name="api-organizations"),
    path(
        "organizations/<str:org>",
        directory.OrganizationDetailView.as_view(),
        name="api-organization",
    ),
    path(
        "organizations/<str:org>/members/<str:user>",
        directory.MemberView.as_view(),
        name="api-organization-member",
    ),
    path(
        "organizations/<str:org>/members/<str:user>/roles",
        directory.MemberRolesView.as_view(),
        name="api-organization-member-roles",
    ),
    path(
        "organizations/<str:org>/members/<str:user>/workspaces",
        workspace_views.WorkspaceCreateView.as_view(),
        name="api-organization-member-workspaces",
    ),
    path(
        "workspaces/<str:workspace>",
        workspace_views.WorkspaceDetailView.as_view(),
        name="api-workspace",
    ),
    path("openapi.json", SpectacularJSONAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("docs", views.docs_without_slash, name="api-docs-without-slash"),
    # Every other address under /api/v2/: the contract's JSON 404, also with DEBUG on
    # (Django then answers its own HTML page instead of calling ``handler404``).
    re_path(r"", views.not_found, name="api-not-found"),
]
