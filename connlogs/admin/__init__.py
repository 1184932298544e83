"""The Django admin: site owners manage people, organizations and workspaces; logs are read-only.

Two rules shape it:

* connection logs are audit data: the admin can read them but never add, change or delete
  one, and deleting anything a log row points at (a user, workspace or organization) shows
  Django's "cannot delete" page instead of failing on the database's PROTECT
  (``directory.KeepsConnectionLogs``);
* the log table may hold tens of millions of rows: its list never counts the whole table
  (``CappedCountPaginator``), never sorts on an unindexed column, filters only through
  indexed columns and searches with the API's own ``q`` language (``logs``);
* the access log is read-only too, and the log's rows show pseudonyms to an owner who may
  not reveal identities (``CONNLOGS_OWNERS_SEE_IDENTITIES`` off), as every door does.

Who gets in is decided by ``User.is_staff``/``has_perm``, which ask ``roles.is_owner``.
"""

from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from connlogs.admin import access, directory, logs
from connlogs.web.forms import ThrottledAdminAuthenticationForm, ThrottledPasswordChangeView

admin.site.site_header = "connlogs administration"
admin.site.site_title = "connlogs admin"
admin.site.index_title = "Manage connlogs"
# The admin's sign-in checks passwords through the same backend and lockout as every other
# door (connlogs.signin); this form only says "locked out" when it is.
admin.site.login_form = ThrottledAdminAuthenticationForm


def password_change(request, extra_context=None):
    """``AdminSite.password_change`` with the old password checked behind the same lockout
    (Django's admin names its form class inside the method, so the method is replaced)."""
    request.current_app = admin.site.name
    return ThrottledPasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done", current_app=admin.site.name),
        extra_context={**admin.site.each_context(request), **(extra_context or {})},
    )(request)


# Read by ``admin.site.get_urls()``, which runs after this module (in project/urls.py).
admin.site.password_change = password_change

# connlogs decides access by roles (roles.py), not by Django's groups and permissions:
# a Group would look meaningful in the admin and do nothing.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)

__all__ = ["access", "directory", "logs"]
