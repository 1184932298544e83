"""Template helpers of the pages: the header's roles, icons, times and numbers."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html

from connlogs import roles, timebounds
from connlogs.streams import access
from connlogs.values import format_time
from connlogs.visible import visible_text

register = template.Library()


@register.simple_tag
def account_roles(user) -> list[str]:
    """The signed-in user's roles as the header names them."""
    if not getattr(user, "is_authenticated", False):
        return []
    names = [roles.SITE_ROLES.get(name, name) for name in user.site_roles or []]
    for membership in user.memberships.select_related("organization").order_by(
        "organization__name"
    ):
        organization = visible_text(
            membership.organization.display_name or membership.organization.name
        )
        if membership.roles:
            names += [
                f"{roles.ORGANIZATION_ROLES.get(name, name)} · {organization}"
                for name in membership.roles
            ]
        else:
            names.append(f"Member · {organization}")
    return names


@register.simple_tag
def may_read_logs(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and roles.may_read_connection_logs(user)


@register.simple_tag
def may_manage_streams(user) -> bool:
    return access.may_manage_streams(user)


@register.simple_tag
def may_read_access_log(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and roles.may_read_access_log(user)


@register.simple_tag
def icon(name: str, label: str = ""):
    """An icon of the page's sprite; decorative unless given a label."""
    if label:
        return format_html(
            '<svg class="icon icon-{}" role="img" aria-label="{}"><use href="#i-{}"></use></svg>',
            name,
            label,
            name,
        )
    return format_html(
        '<svg class="icon icon-{}" aria-hidden="true" focusable="false">'
        '<use href="#i-{}"></use></svg>',
        name,
        name,
    )


@register.filter
def rfc3339(value: dt.datetime | None) -> str:
    """The API's form of a time (``0001-01-01T00:00:00Z``), for ``datetime`` attributes."""
    return format_time(value) or ""


@register.filter(expects_localtime=False)
def local(value: dt.datetime | None, layout: str = "j M Y, H:i:s T") -> str:
    """A time in the display zone in Django's date ``layout``; ``T`` is never empty.

    Use this, not ``date``: ``date`` raises for a year-1 time in New York and leaves ``T``
    empty in the repeated hour of a daylight-saving change (``timebounds.format_local``).
    """
    return timebounds.format_local(value, layout)


@register.filter
def visible(value) -> str:
    """Agent- or browser-supplied text with its invisible characters written as code points
    (``⟨U+202E⟩``): ``connlogs.visible``. Escaped by the template as usual."""
    return visible_text(value)


@register.filter
def number(value) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""
