"""The alerts pages: the rules a user manages with their recent firings (each linking to the
list filtered to exactly its rows), and the form that creates, changes, pauses and deletes a
rule. Site owners and organization admins (``connlogs.alerts.access``, checked here on every
request); others get a page that says why (403); a rule they may not see is a 404."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from connlogs import values
from connlogs.alerts import access, editing
from connlogs.alerts.models import AlertRule, FiringStatus
from connlogs.alerts.notify import firing_path
from connlogs.alerts.presets import RULE_PRESETS
from connlogs.privacy import outbound
from connlogs.privacy.shown_query import shown_searches
from connlogs.web.alert_forms import AlertRuleForm
from connlogs.web.params import choice

RECENT_FIRINGS = 50


class _AlertsView(LoginRequiredMixin, View):
    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not access.may_manage_alerts(request.user):
            return render(request, "connlogs/no_alerts.html", status=403)
        return super().dispatch(request, *args, **kwargs)

    def rule(self, request, ref: str | None) -> AlertRule:
        if ref is None:
            return AlertRule(created_by=request.user)
        try:
            pk = values.parse_uuid(ref)
        except ValueError:
            raise Http404() from None
        found = access.visible_rules(request.user).filter(pk=pk).first()
        if found is None:
            raise Http404()
        return found


class AlertsPageView(_AlertsView):
    """``/connectionlog/alerts``: the rules, the presets, and the latest firings."""

    def get(self, request):
        rules = access.visible_rules(request.user).annotate(fired=Count("firings"))
        rules = list(rules.order_by("name", "id"))
        firings = access.visible_firings(request.user)[:RECENT_FIRINGS]
        return render(
            request,
            "connlogs/alerts.html",
            {
                "rules": list(zip(rules, shown_searches(request.user, rules), strict=True)),
                "firings": [(firing, firing_path(firing.pk)) for firing in firings],
                "presets": RULE_PRESETS.values(),
                "failed": FiringStatus.FAILED,
                "pending": FiringStatus.PENDING,
            },
        )


class AlertRuleFormView(_AlertsView):
    """``/connectionlog/alerts/new`` (``?preset=<key>`` fills it with a shipped example) and
    ``/connectionlog/alerts/<id>/edit``."""

    def _page(self, request, form, rule: AlertRule, status: int = 200, address_errors=()):
        context = {
            "form": form,
            "rule": rule,
            "editing": not rule._state.adding,
            "address_errors": address_errors,
        }
        return render(request, "connlogs/alert_form.html", context, status=status)

    def get(self, request, rule: str | None = None):
        found = self.rule(request, rule)
        if found._state.adding:
            unknown = choice(request.GET, "preset", RULE_PRESETS)
            if unknown:
                form = AlertRuleForm(user=request.user)
                return self._page(request, form, found, status=400, address_errors=unknown)
            preset = RULE_PRESETS.get(request.GET.get("preset", ""))
            initial = {"name": preset.name, **preset.fields} if preset else {}
        else:
            initial = AlertRuleForm.initial_of(found)
            # As the API shows it; sent back unchanged, the stored q stays (editing.apply).
            initial["q"] = shown_searches(request.user, [found])[0]
        return self._page(request, AlertRuleForm(initial=initial, user=request.user), found)

    def post(self, request, rule: str | None = None):
        found = self.rule(request, rule)
        form = AlertRuleForm(request.POST, user=request.user)
        if not form.is_valid():
            return self._page(request, form, found, status=400)
        try:
            editing.apply(request.user, found, form.rule_data())
        except editing.RuleForbidden as error:
            form.add_error("organization", str(error))
            return self._page(request, form, found, status=403)
        except outbound.SendsIdentities as error:
            form.add_error(None, str(error))
            return self._page(request, form, found, status=403)
        except editing.RuleInvalid as error:
            for validation in error.validations:
                field = validation.field if validation.field in form.fields else None
                form.add_error(field, validation.detail)
            return self._page(request, form, found, status=400)
        found.save()
        return redirect("alerts-page")


class AlertRuleDeleteView(_AlertsView):
    """``POST /connectionlog/alerts/<id>/delete``: the rule and its firings."""

    def post(self, request, rule: str):
        self.rule(request, rule).delete()
        return redirect("alerts-page")
