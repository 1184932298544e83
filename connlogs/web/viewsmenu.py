"""The list page's saved views: its menu (mine, shared with me, built in), the view open now,
the start view, and where the signed-in user may share a new view.

Nothing here decides who may see or change a view: that is ``connlogs.savedviews.access``,
asked for every item (the menu lists ``visible_views``; "editable" is ``may_change``), and
the page's buttons write through the API, which asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connlogs import roles
from connlogs.models import Organization
from connlogs.savedviews import access
from connlogs.savedviews.models import SavedView, Sharing
from connlogs.savedviews.presets import PRESETS, Preset
from connlogs.savedviews.resolve import find_view, shown_queries
from connlogs.web import links

# The menu lists at most this many saved views; the API lists them all.
MENU_LIMIT = 200


@dataclass(frozen=True)
class ViewItem:
    """One view in the menu: ``id`` (a UUID or a built-in key), its name and ``q``, the list's
    address that opens it, a word on who shares it, and whether the user may change it."""

    id: str
    name: str
    q: str
    url: str
    shared_with: str
    editable: bool
    built_in: bool = False
    page_size: int | None = None
    columns: tuple[str, ...] = ()


@dataclass
class ViewsMenu:
    """What the page shows of saved views for one user and one request."""

    mine: list[ViewItem] = field(default_factory=list)
    shared: list[ViewItem] = field(default_factory=list)
    built_in: list[ViewItem] = field(default_factory=list)
    current: ViewItem | None = None
    start_id: str = ""
    # (value, label) of the sharing select: "personal", "organization:<id>", "everyone".
    share_choices: list[tuple[str, str]] = field(default_factory=list)

    @property
    def start_name(self) -> str:
        every = self.mine + self.shared + self.built_in
        return next((item.name for item in every if item.id == self.start_id), "")


def _shared_with(view: SavedView) -> str:
    if view.sharing == Sharing.EVERYONE:
        return "everyone"
    if view.sharing == Sharing.ORGANIZATION:
        organization = view.organization
        return organization.display_name or organization.name
    return "only me"


def saved_item(view: SavedView, user: roles.User, q: str) -> ViewItem:
    """``view`` in the menu; ``q`` its search as ``user`` is shown it
    (``resolve.shown_queries``)."""
    return ViewItem(
        id=str(view.id),
        name=view.name,
        q=q,
        url=links.list_url(view=str(view.id)),
        shared_with=_shared_with(view),
        editable=access.may_change(user, view),
        page_size=view.page_size,
        columns=tuple(view.columns or ()),
    )


def preset_item(preset: Preset) -> ViewItem:
    return ViewItem(
        id=preset.key,
        name=preset.name,
        q=preset.q,
        url=links.list_url(view=preset.key),
        shared_with="built in",
        editable=False,
        built_in=True,
    )


def share_choices(user: roles.User, organizations: list[Organization]) -> list[tuple[str, str]]:
    """Where ``user`` may share a view (``access.may_share``), among the organizations the
    page already lists for them."""
    choices = [("personal", "Only me")]
    for organization in organizations:
        if access.may_share(user, Sharing.ORGANIZATION, organization.id):
            label = organization.display_name or organization.name
            choices.append((f"organization:{organization.id}", f"Everyone in {label}"))
    if access.may_share(user, Sharing.EVERYONE, None):
        choices.append(("everyone", "Everyone"))
    return choices


def view_id(view: SavedView | Preset) -> str:
    """What ``view=`` names ``view`` by: a built-in view's key, a saved view's UUID."""
    return view.key if isinstance(view, Preset) else str(view.id)


def views_menu(
    user: roles.User,
    view_param: str,
    organizations: list[Organization],
    start: SavedView | Preset | None,
) -> ViewsMenu:
    """The menu for ``user``; ``view_param`` is the request's ``view`` (``""``: none), already
    checked by the search (a view the user may not see never reaches the page); ``start`` is
    their start view (``resolve.start_view``)."""
    menu = ViewsMenu(share_choices=share_choices(user, organizations))
    saved = list(access.visible_views(user).select_related("organization")[:MENU_LIMIT])
    shown = shown_queries(saved, user)
    for view in saved:
        item = saved_item(view, user, shown[str(view.id)])
        (menu.mine if view.owner_id == user.pk else menu.shared).append(item)
    menu.built_in = [preset_item(preset) for preset in PRESETS.values()]
    if start is not None:
        menu.start_id = view_id(start)
    if view_param:
        current = find_view(view_param, user)
        if isinstance(current, Preset):
            menu.current = preset_item(current)
        elif current is not None:
            shown_q = shown.get(str(current.id)) or shown_queries([current], user)[str(current.id)]
            menu.current = saved_item(current, user, shown_q)
    return menu


# The table's columns by the names views use (``savedviews.display.COLUMNS``), as CSS classes.
COLUMN_CLASSES = {
    "time": "c-time",
    "type": "c-type",
    "who": "c-who",
    "workspace": "c-ws",
    "ip": "c-ip",
    "state": "c-state",
    "result": "c-result",
    "reason": "c-reason",
}


def hidden_columns(view: ViewItem | None) -> str:
    """The CSS classes of the columns ``view`` leaves out, space-separated (``""``: all shown;
    a view without ``columns`` shows all). The page keeps its own column order."""
    if view is None or not view.columns:
        return ""
    return " ".join(css for name, css in COLUMN_CLASSES.items() if name not in view.columns)
