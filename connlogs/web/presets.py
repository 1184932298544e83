"""One-click searches a responder reaches from the list page, each an ordinary ``q``.

A preset is text of the search language (docs/search.md), nothing more: clicking one opens
the list with that ``q``, which then shows in the box, the chips and the menus like any typed
search, and can be changed from there. Times are relative (``-24h``) so that a preset means
the same whenever it is clicked and its address can be bookmarked.
"""

from __future__ import annotations

from dataclasses import dataclass

from connlogs.web import links


@dataclass(frozen=True)
class Preset:
    label: str
    q: str
    title: str


PRESETS: tuple[Preset, ...] = (
    Preset(
        "Active SSH now",
        "type:ssh status:ongoing -status:stale",
        "SSH sessions still connected, leaving out stale ones (no disconnect received)",
    ),
    Preset(
        "Failed app opens · 24 h",
        "type:workspace_app result:failed connected_after:-24h",
        "Workspace app requests answered with status 400 or more in the last 24 hours",
    ),
    Preset(
        "Sessions longer than 8 h",
        "duration:>8h",
        "Agent sessions (SSH, VS Code, JetBrains, web terminal) longer than 8 hours",
    ),
    Preset(
        "Stale sessions",
        "status:stale",
        "Sessions that look ongoing but whose disconnect was never received",
    ),
    Preset(
        "Denied tunnels · 24 h",
        "type:tunnel status_code:403 connected_after:-24h",
        "Tunnel requests refused with status 403 in the last 24 hours",
    ),
    Preset(
        "Unauthenticated web requests",
        "authenticated:no",
        "App, port-forwarding and tunnel requests that carried no signed-in user",
    ),
)


@dataclass(frozen=True)
class PresetLink:
    preset: Preset
    url: str
    current: bool


def preset_links(current_q: str, size: int = links.DEFAULT_PAGE_SIZE) -> list[PresetLink]:
    """Every preset's address (keeping the page size), marked ``current`` when the search
    shown is that preset's, whatever the order or case its terms were typed in."""
    current = links.parsed_terms(current_q)
    return [
        PresetLink(preset, links.list_url(preset.q, size), current == links.parsed_terms(preset.q))
        for preset in PRESETS
    ]
