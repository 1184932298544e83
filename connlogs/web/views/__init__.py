"""The browser pages: sign-in, the connection-log list and detail, and downloads."""

from connlogs.web.views.auth import SetTimezoneView, SignInView, SignOutView
from connlogs.web.views.logs import (
    ConnectionLogDetailView,
    ConnectionLogDownloadView,
    ConnectionLogListView,
)

__all__ = [
    "ConnectionLogDetailView",
    "ConnectionLogDownloadView",
    "ConnectionLogListView",
    "SetTimezoneView",
    "SignInView",
    "SignOutView",
]
