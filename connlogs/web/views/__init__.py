"""The browser pages: sign-in, the connection-log list (and its follow mode), detail,
downloads, the access log."""

from connlogs.web.views.access import (
    AccessLogDownloadView,
    AccessLogView,
    ExportChecksumPageView,
    MyDownloadsView,
)
from connlogs.web.views.auth import SetTimezoneView, SignInView, SignOutView
from connlogs.web.views.following import FollowChangesView
from connlogs.web.views.logs import (
    ConnectionLogDetailView,
    ConnectionLogDownloadView,
    ConnectionLogListView,
)

__all__ = [
    "AccessLogDownloadView",
    "AccessLogView",
    "ExportChecksumPageView",
    "MyDownloadsView",
    "ConnectionLogDetailView",
    "ConnectionLogDownloadView",
    "ConnectionLogListView",
    "FollowChangesView",
    "SetTimezoneView",
    "SignInView",
    "SignOutView",
]
