from django.urls import path
from django.views.generic import RedirectView

from connlogs.web import views
from connlogs.web.views import streams
from connlogs.web.views.alerts import AlertRuleDeleteView, AlertRuleFormView, AlertsPageView
from connlogs.web.views.base import favicon

urlpatterns = [
    path("", RedirectView.as_view(url="/connectionlog", permanent=False), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("login", views.SignInView.as_view(), name="login"),
    path("logout", views.SignOutView.as_view(), name="logout"),
    path("preferences/timezone", views.SetTimezoneView.as_view(), name="set-timezone"),
    path("connectionlog", views.ConnectionLogListView.as_view(), name="connectionlog-list"),
    path(
        "connectionlog/export",
        views.ConnectionLogDownloadView.as_view(),
        name="connectionlog-export",
    ),
    path("connectionlog/alerts", AlertsPageView.as_view(), name="alerts-page"),
    path("connectionlog/alerts/new", AlertRuleFormView.as_view(), name="alert-new"),
    path("connectionlog/alerts/<str:rule>/edit", AlertRuleFormView.as_view(), name="alert-edit"),
    path(
        "connectionlog/alerts/<str:rule>/delete",
        AlertRuleDeleteView.as_view(),
        name="alert-delete",
    ),
    path("connectionlog/streams", streams.StreamsPageView.as_view(), name="streams-page"),
    path("connectionlog/streams/new", streams.StreamCreateView.as_view(), name="stream-create"),
    path(
        "connectionlog/streams/<uuid:stream>/edit",
        streams.StreamEditView.as_view(),
        name="stream-edit",
    ),
    path(
        "connectionlog/streams/<uuid:stream>/delete",
        streams.StreamDeleteView.as_view(),
        name="stream-delete",
    ),
    path(
        "connectionlog/streams/<uuid:stream>/pause",
        streams.StreamSwitchView.as_view(paused=True),
        name="stream-pause",
    ),
    path(
        "connectionlog/streams/<uuid:stream>/resume",
        streams.StreamSwitchView.as_view(paused=False),
        name="stream-resume",
    ),
    path("connectionlog/exports", views.MyDownloadsView.as_view(), name="connectionlog-exports"),
    path(
        "connectionlog/exports/<str:name>.sha256",
        views.ExportChecksumPageView.as_view(),
        name="connectionlog-export-checksum",
    ),
    path("accesslog", views.AccessLogView.as_view(), name="accesslog"),
    path("accesslog/export", views.AccessLogDownloadView.as_view(), name="accesslog-export"),
    path(
        "connectionlog/changes",
        views.FollowChangesView.as_view(),
        name="connectionlog-changes",
    ),
    path(
        "connectionlog/<uuid:pk>",
        views.ConnectionLogDetailView.as_view(),
        name="connectionlog-detail",
    ),
]
