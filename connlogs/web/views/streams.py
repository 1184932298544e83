"""The streams pages: every stream the user manages with its health and the workers'
heartbeat; a stream's create, edit and delete pages; pause and resume.

Who may do what is ``connlogs.streams.access``, asked on every request: site owners and
organization admins (others get a page that says why, 403); a stream the user may not see
answers 404, as one that does not exist. Changes go through the API's rules
(``connlogs.web.stream_forms``), so a page accepts exactly what the API accepts.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from connlogs.api import stream_rules
from connlogs.streams import access
from connlogs.streams.models import Stream
from connlogs.streams.scheduling import last_heartbeat
from connlogs.streams.status import stream_health
from connlogs.web.stream_forms import StreamForm, save_stream

FORM_TEMPLATE = "connlogs/stream_form.html"


def _stream(request, stream_id) -> Stream:
    stream = access.visible_streams(request.user).filter(pk=stream_id).first()
    if stream is None:
        raise Http404("No such stream.")
    return stream


def _to_list() -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("streams-page"))


class ManagersOnly(LoginRequiredMixin, View):
    """Signed in (else to the sign-in page), and a site owner or an organization admin (else
    a page that says why, 403), before any method runs."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not access.may_manage_streams(request.user):
            return render(request, "connlogs/no_streams.html", status=403)
        return super().dispatch(request, *args, **kwargs)


class StreamsPageView(ManagersOnly):
    """``/connectionlog/streams``: the streams, their health and the workers' heartbeat."""

    template_name = "connlogs/streams.html"

    def get(self, request):
        streams = access.visible_streams(request.user).order_by("name", "id")
        return render(
            request,
            self.template_name,
            {
                "streams": [(stream, stream_health(stream)) for stream in streams],
                "workers": last_heartbeat(),
            },
        )


class StreamCreateView(ManagersOnly):
    """``/connectionlog/streams/new``: the form; a refusal is shown next to its field (400)."""

    def get(self, request):
        return render(request, FORM_TEMPLATE, {"form": StreamForm(user=request.user)})

    def post(self, request):
        form = StreamForm(request.POST, user=request.user)
        stream = save_stream(request, form)
        if stream is None:
            return render(request, FORM_TEMPLATE, {"form": form}, status=400)
        messages.success(request, f"Stream “{stream.name}” created.")
        return _to_list()


class StreamEditView(ManagersOnly):
    """``/connectionlog/streams/<id>/edit``: the stream's values (never its secret)."""

    def get(self, request, stream):
        stream = _stream(request, stream)
        form = StreamForm(user=request.user, stream=stream)
        return render(request, FORM_TEMPLATE, {"form": form, "stream": stream})

    def post(self, request, stream):
        form = StreamForm(request.POST, user=request.user, stream=_stream(request, stream))
        saved = save_stream(request, form)
        if saved is None:
            shown = _stream(request, stream)  # as stored: the refused values are the form's
            return render(request, FORM_TEMPLATE, {"form": form, "stream": shown}, status=400)
        messages.success(request, f"Stream “{saved.name}” saved.")
        return _to_list()


class StreamDeleteView(ManagersOnly):
    """``/connectionlog/streams/<id>/delete``: asks (GET), then deletes (POST)."""

    def get(self, request, stream):
        stream = _stream(request, stream)
        return render(request, "connlogs/stream_delete.html", {"stream": stream})

    def post(self, request, stream):
        stream = _stream(request, stream)
        stream.delete()
        messages.success(request, f"Stream “{stream.name}” deleted.")
        return _to_list()


class StreamSwitchView(ManagersOnly):
    """``/connectionlog/streams/<id>/pause`` and ``/resume`` (POST): as the API's."""

    http_method_names = ["post"]
    paused = True

    def post(self, request, stream):
        stream = _stream(request, stream)
        stream_rules.set_paused(stream, self.paused)
        stream.save(update_fields=["paused", "next_attempt_at", "failures", "updated_at"])
        state = "paused" if self.paused else "resumed"
        messages.success(request, f"Stream “{stream.name}” {state}.")
        return _to_list()
