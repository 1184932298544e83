"""The browser pages: sign-in, the connection-log list (and its follow mode), detail, and
downloads."""

from connlogs.web.views.auth import SetTimezoneView, SignInView, SignOutView
from connlogs.web.views.following import FollowChangesView
from connlogs.web.views.logs import (
    ConnectionLogDetailView,
    ConnectionLogDownloadView,
    ConnectionLogListView,
)

__all__ = [
    "ConnectionLogDetailView",
    "ConnectionLogDownloadView",
    "ConnectionLogListView",
    "FollowChangesView",
    "SetTimezoneView",
    "SignInView",
    "SignOutView",
]
