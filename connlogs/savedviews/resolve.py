"""A saved or built-in view as a ``q``: for the ``view=`` parameter of every door
(``LogSearch.from_request``), for the start view, and for callers without a request (a stream
worker holding an owner and a view id).
"""

from __future__ import annotations

from connlogs import roles, values
from connlogs.privacy.shown_query import HIDDEN, ShownQuery
from connlogs.savedviews.access import visible_views
from connlogs.savedviews.models import SavedView, StartView
from connlogs.savedviews.presets import PRESETS, Preset
from connlogs.search.grammar import Validation, repeated_param

VIEW_PARAM = "view"
NOT_VISIBLE = (
    'Query param "view" does not name a saved view you can see: it was deleted, or it is not '
    "shared with you"
)
WITH_Q = 'Query params "q" and "view" cannot be used together: a view is a saved "q"'
NOT_VALID = 'Query param "view" names a view whose search is not valid'


class ViewNotFound(LookupError):
    """No view with that id, or one the user may not see (the two are not told apart). Its
    text is what a rule's or a stream's ``last_error`` shows."""

    def __init__(self, view_id: str):
        self.view_id = view_id
        super().__init__(
            f'The saved view "{view_id}" is gone, or its owner may no longer see it: choose '
            "another view or a q."
        )


def find_view(view_id: str, user: roles.User) -> SavedView | Preset | None:
    """The view ``view_id`` names for ``user``: a built-in one by its key, a saved one by its
    UUID if ``user`` may see it; ``None`` otherwise."""
    if view_id in PRESETS:
        return PRESETS[view_id]
    try:
        pk = values.parse_uuid(view_id)
    except ValueError:
        return None
    return visible_views(user).filter(pk=pk).first()


def query_of(view_id: str, user: roles.User) -> str:
    """The ``q`` of the view ``view_id`` as ``user`` may open it; ``ViewNotFound`` when
    ``user`` may not see it. The rows it finds are still scoped to ``user``'s role."""
    view = find_view(view_id, user)
    if view is None:
        raise ViewNotFound(view_id)
    return view.q


def search_query(params, q: str, user: roles.User) -> tuple[str, list[Validation]]:
    """The ``q`` a request searches with: its own ``q``, or the one its ``view`` names, as
    ``user`` is shown it (``privacy.shown_query``: for a reader shown pseudonyms, the real
    names and addresses in it as stand-ins, which match nothing for them, as the real values
    do; so the view finds what it did, and every later step shows only what was shown).

    ``params`` is the request's ``QueryDict``. Answers ``(q, [])``, or ``("", validations)``
    when ``view`` is repeated, is used together with a non-empty ``q``, or names no view
    ``user`` may see: 400s in the contract's shape, as a bad ``q`` is. An empty ``view=`` is no
    view.
    """
    given = params.getlist(VIEW_PARAM) if hasattr(params, "getlist") else []
    if len(given) > 1:
        return "", [Validation(VIEW_PARAM, repeated_param(VIEW_PARAM, len(given)))]
    if not given or not given[0]:
        return q, []
    if q.strip():
        return "", [Validation(VIEW_PARAM, WITH_Q)]
    try:
        q = ShownQuery.for_viewer(user).render(query_of(given[0], user))
    except ViewNotFound:
        return "", [Validation(VIEW_PARAM, NOT_VISIBLE)]
    if q == HIDDEN:
        return "", [Validation(VIEW_PARAM, NOT_VALID)]
    return q, []


def start_view(user: roles.User) -> SavedView | Preset | None:
    """The view ``user``'s list page opens with, or ``None`` (none chosen, or the chosen view
    is one they may no longer see: shared with an organization they left, unshared...)."""
    if not getattr(user, "is_authenticated", False):
        return None
    choice = StartView.objects.filter(user_id=user.pk).first()
    if choice is None:
        return None
    if choice.preset:
        return PRESETS.get(choice.preset)
    return visible_views(user).filter(pk=choice.view_id).first()


def shown_queries(views: list[SavedView], user: roles.User) -> dict[str, str]:
    """``{view id: q}`` of saved views as ``user`` is shown them (``privacy.shown_query``:
    stand-ins for the real names and addresses in them, for a reader shown pseudonyms), in
    one batch. The text is the one ``view=`` searches with for ``user``."""
    shown = ShownQuery.for_viewer(user).render_all([(view.q, False) for view in views])
    return {str(view.id): q for view, q in zip(views, shown, strict=True)}
