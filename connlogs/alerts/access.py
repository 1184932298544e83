"""Who may see and change an alert rule: scoped exactly as streams (``connlogs.streams.access``).

Site owners see and change every rule and may watch every organization (or all of them); an
organization admin sees and changes the rules of the organizations they administer, and every
rule they create names one of them. Others may not manage rules at all.
"""

from __future__ import annotations

from django.db.models import QuerySet

from connlogs import roles
from connlogs.alerts.models import AlertFiring, AlertRule
from connlogs.streams.access import may_manage_streams, may_target

__all__ = ["may_manage_alerts", "may_target", "visible_firings", "visible_rules"]


def may_manage_alerts(user: roles.User) -> bool:
    """Site owners and organization admins (the same people who manage streams)."""
    return may_manage_streams(user)


def visible_rules(user: roles.User) -> QuerySet:
    """The rules ``user`` may see, change, pause and delete."""
    administered = roles.administered_organization_ids(user)
    rules = AlertRule.objects.select_related("organization", "created_by")
    if administered is None:
        return rules
    return rules.filter(organization_id__in=administered or [roles.NO_ID])


def visible_firings(user: roles.User) -> QuerySet:
    """The firings of the rules ``user`` may see, newest first."""
    return (
        AlertFiring.objects.filter(rule__in=visible_rules(user).values("pk"))
        .select_related("rule")
        .order_by("-fired_at", "-id")
    )
