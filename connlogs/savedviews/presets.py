"""The built-in views: read-only saved views every signed-in user has, in one registry that the
API (``GET /api/v2/connectionlog/views``) and the pages both read.

Each is a ``q`` of the search language (docs/search.md) and nothing else: it shows each
reader the rows their own role lets them read. Its id is its key, which is never a UUID, so
one ``view=`` parameter names saved and built-in views alike.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    q: str
    description: str


PRESETS: dict[str, Preset] = {
    preset.key: preset
    for preset in (
        Preset(
            "active-ssh-now",
            "Active SSH sessions now",
            "type:ssh status:ongoing -status:stale",
            "SSH sessions with no disconnect yet, leaving out stale ones (no disconnect for "
            "longer than CONNLOGS_STALE_AFTER).",
        ),
        Preset(
            "failed-app-opens-24h",
            "Failed app opens (24 h)",
            "type:workspace_app result:failed connected_after:-24h",
            "Workspace apps answered with an HTTP error (400 and up) in the last 24 hours.",
        ),
        Preset(
            "sessions-over-8h",
            "Sessions longer than 8 h",
            "duration:>8h",
            "Agent sessions that lasted, or have been open, more than 8 hours.",
        ),
        Preset(
            "stale-sessions",
            "Stale sessions",
            "status:stale",
            "Sessions still open after CONNLOGS_STALE_AFTER: no disconnect was ever received.",
        ),
        Preset(
            "denied-tunnels-24h",
            "Denied tunnels (24 h)",
            "type:tunnel status_code:403 connected_after:-24h",
            "Tunnel connections refused (HTTP 403) in the last 24 hours.",
        ),
        Preset(
            "unauthenticated-web",
            "Unauthenticated web requests",
            "authenticated:no",
            "Web requests (apps, port forwarding, tunnels) made with no signed-in user.",
        ),
    )
}
