"""Sign-in, sign-out and the display time-zone choice."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from connlogs.web.forms import ThrottledAuthenticationForm
from connlogs.web.views.base import TIMEZONE_COOKIE, UTC_NAME, valid_zone


class SignInView(auth_views.LoginView):
    authentication_form = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after:
            # As the API answers: 429 with the wait, so clients and people both know.
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class SignOutView(auth_views.LogoutView):
    """Sign-out by POST (a form with a CSRF token); Django refuses GET."""


class SetTimezoneView(View):
    """Show times in UTC or in the browser's zone (a cookie, so addresses stay shareable)."""

    http_method_names = ["post"]

    def post(self, request):
        name = (request.POST.get("tz") or "").strip()
        target = request.POST.get("next") or "/connectionlog"
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = "/connectionlog"
        response = HttpResponseRedirect(target)
        if name and name != UTC_NAME and not valid_zone(name):
            # Said, not dropped: the zone shown so far stays as it was.
            messages.error(request, f"Unknown time zone {name[:64]!r}; times are shown as before.")
        elif name == UTC_NAME or not name:
            response.delete_cookie(TIMEZONE_COOKIE)
        else:
            response.set_cookie(
                TIMEZONE_COOKIE,
                name,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                secure=request.is_secure(),
                httponly=True,
            )
        return response
