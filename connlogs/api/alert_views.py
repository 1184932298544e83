"""Alert rules: ``/api/v2/connectionlog/alerts/rules`` (list, create), ``…/rules/{id}`` (read,
change, delete) and ``/api/v2/connectionlog/alerts/firings`` (the recent firings).

Who may do what is ``connlogs.alerts.access`` (the streams' scope): site owners and
organization admins only (403 for other signed-in users); a rule the caller may not see
answers 404, as one that does not exist. The webhook's secret is write-only.
"""

from __future__ import annotations

from collections import defaultdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from connlogs import values
from connlogs.alerts import access, editing
from connlogs.alerts.models import AlertFiringRow, AlertRule, RuleKind
from connlogs.alerts.notify import firing_path
from connlogs.api.alert_serializers import (
    AlertFiringListSerializer,
    AlertRuleBodySerializer,
    AlertRuleListSerializer,
    AlertRuleSerializer,
)
from connlogs.api.directory import error_responses, validated
from connlogs.api.errors import ApiError
from connlogs.api.lookups import resolve_organization
from connlogs.api.pagination import single_param
from connlogs.api.serializers import organization_json
from connlogs.privacy import outbound
from connlogs.privacy.shown_query import shown_searches
from connlogs.search import Validation
from connlogs.values import format_time

MAX_RULES = 500
FIRINGS_LIMIT = 100
NOT_ALLOWED = "Only site owners and organization admins may manage alert rules."
RULE_ID = OpenApiParameter("rule", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _shown(request, rules: list[AlertRule]) -> list[dict]:
    """``rules`` as the caller is shown them: a ``q`` with real names and addresses shows
    them as stand-ins to a reader shown pseudonyms (``privacy.shown_query``)."""
    shown = shown_searches(request.user, rules)
    return [rule_json(rule, q) for rule, q in zip(rules, shown, strict=True)]


def rule_json(rule: AlertRule, shown_q: str) -> dict:
    """A rule as the API shows it (``AlertRuleSerializer``), its ``q`` as ``shown_q``: how the
    caller is shown it (``_shown``)."""
    creator = rule.created_by
    return {
        "id": str(rule.id),
        "name": rule.name,
        "kind": rule.kind,
        "q": shown_q,
        "view": rule.view,
        "organization": organization_json(rule.organization) if rule.organization else None,
        "created_by": {"id": str(creator.id), "username": creator.username},
        "threshold": rule.threshold,
        "window_minutes": rule.window_minutes,
        "new_address_days": rule.new_address_days,
        "cooldown_minutes": rule.cooldown_minutes,
        "channel": rule.channel,
        "url": rule.url,
        "secret_set": rule.has_secret,
        "email_to": rule.email_to,
        "paused": rule.paused,
        "cursor": rule.cursor,
        "cooldown_until": format_time(rule.cooldown_until),
        "last_fired_at": format_time(rule.last_fired_at),
        "last_error": rule.last_error or None,
        "last_error_at": format_time(rule.last_error_at),
        "created_at": format_time(rule.created_at),
        "updated_at": format_time(rule.updated_at),
    }


def firings_json(firings) -> list[dict]:
    """Firings (``AlertFiringSerializer``) with their rows' ids, in two queries."""
    firings = list(firings)
    rows = defaultdict(list)
    matched = AlertFiringRow.objects.filter(firing__in=[f.pk for f in firings])
    for firing_id, log_id in matched.values_list("firing_id", "log_id"):
        rows[firing_id].append(str(log_id))
    return [
        {
            "id": str(firing.id),
            "rule": {"id": str(firing.rule_id), "name": firing.rule.name},
            "fired_at": format_time(firing.fired_at),
            "match_count": firing.match_count,
            "window_start": format_time(firing.window_start),
            "window_end": format_time(firing.window_end),
            "log_ids": sorted(rows[firing.pk]),
            "status": firing.status,
            "attempts": firing.attempts,
            "delivered_at": format_time(firing.delivered_at),
            "last_error": firing.last_error or None,
            "link": firing_path(firing.pk),
        }
        for firing in firings
    ]


def _manager(request) -> None:
    if not access.may_manage_alerts(request.user):
        raise PermissionDenied(NOT_ALLOWED)


def _uuid(ref: str):
    try:
        return values.parse_uuid(ref)
    except ValueError:
        raise NotFound() from None


def _visible(request, ref: str) -> AlertRule:
    _manager(request)
    rule = access.visible_rules(request.user).filter(pk=_uuid(ref)).first()
    if rule is None:
        raise NotFound()
    return rule


def _save(request, rule: AlertRule, data: dict) -> AlertRule:
    data = dict(data)
    if data.get("organization"):
        try:
            data["organization"] = resolve_organization(request, data["organization"])
        except NotFound:
            raise ApiError(
                "Validation failed.",
                validations=[
                    Validation(
                        "organization", "No organization by that name or id that you can see."
                    )
                ],
            ) from None
    try:
        editing.apply(request.user, rule, data)
    except (editing.RuleForbidden, outbound.SendsIdentities) as error:
        raise PermissionDenied(str(error)) from None
    except editing.RuleInvalid as error:
        raise ApiError("Validation failed.", validations=error.validations) from None
    rule.save()
    return access.visible_rules(request.user).get(pk=rule.pk)


class AlertRuleListView(APIView):
    @extend_schema(
        operation_id="listAlertRules",
        summary="The alert rules you manage",
        responses={200: AlertRuleListSerializer, **error_responses(401, 403)},
    )
    def get(self, request):
        _manager(request)
        rules = access.visible_rules(request.user).order_by("name", "id")
        return Response({"rules": _shown(request, list(rules))})

    @extend_schema(
        operation_id="createAlertRule",
        summary="Alert on a search: each new match, N within W minutes, or a new address",
        request=AlertRuleBodySerializer,
        responses={201: AlertRuleSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request):
        _manager(request)
        data = validated(AlertRuleBodySerializer, request)
        if AlertRule.objects.count() >= MAX_RULES:
            raise ApiError(
                "Validation failed.",
                validations=[Validation("name", f"There are {MAX_RULES} rules already.")],
            )
        rule = AlertRule(created_by=request.user, kind=RuleKind.EACH_MATCH)
        saved = _save(request, rule, data)
        return Response(_shown(request, [saved])[0], status=status.HTTP_201_CREATED)


class AlertRuleDetailView(APIView):
    @extend_schema(
        operation_id="getAlertRule",
        summary="An alert rule",
        parameters=[RULE_ID],
        responses={200: AlertRuleSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, rule: str):
        return Response(_shown(request, [_visible(request, rule)])[0])

    @extend_schema(
        operation_id="updateAlertRule",
        summary="Change, pause or resume an alert rule (its cursor stays)",
        parameters=[RULE_ID],
        request=AlertRuleBodySerializer(partial=True),
        responses={200: AlertRuleSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request, rule: str):
        found = _visible(request, rule)
        body = AlertRuleBodySerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        return Response(_shown(request, [_save(request, found, body.validated_data)])[0])

    @extend_schema(
        operation_id="deleteAlertRule",
        summary="Delete an alert rule and its firings",
        parameters=[RULE_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, rule: str):
        _visible(request, rule).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertFiringListView(APIView):
    @extend_schema(
        operation_id="listAlertFirings",
        summary="The latest firings of the rules you manage (newest first)",
        parameters=[
            OpenApiParameter("rule", OpenApiTypes.UUID, description="Only this rule's firings."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="At most 100 (default)."),
        ],
        responses={200: AlertFiringListSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request):
        _manager(request)
        firings = access.visible_firings(request.user)
        errors: list[Validation] = []
        rule = single_param(request.query_params, "rule", errors)
        text = single_param(request.query_params, "limit", errors) or str(FIRINGS_LIMIT)
        limit = values.whole_number(text, FIRINGS_LIMIT + 1)
        if not errors and (limit is None or not 1 <= limit <= FIRINGS_LIMIT):
            errors.append(Validation("limit", f"Must be from 1 to {FIRINGS_LIMIT}."))
        if errors:
            raise ApiError("Validation failed.", validations=errors)
        if rule:
            firings = firings.filter(rule=_visible(request, rule))
        return Response({"firings": firings_json(firings[:limit])})
