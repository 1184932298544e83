"""The demo's distributions: connection types, session lengths, reasons, codes, agents, hours.

Each weighted table is ``(items, cumulative weights)`` for ``Random.choices(items,
cum_weights=…)``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from connlogs.models import ConnectionType

HOSTILE_USER_AGENT = "<script>alert(1)</script>"


def weighted(pairs: Iterable[tuple[object, float]]) -> tuple[list, list[float]]:
    """Items and cumulative weights, for ``Random.choices(items, cum_weights=…)``."""
    items, cumulative, total = [], [], 0.0
    for item, weight in pairs:
        total += weight
        items.append(item)
        cumulative.append(total)
    return items, cumulative


TYPE_MIX = weighted(
    [
        (ConnectionType.SSH.value, 45),
        (ConnectionType.VSCODE.value, 20),
        (ConnectionType.JETBRAINS.value, 8),
        (ConnectionType.RECONNECTING_PTY.value, 5),
        (ConnectionType.WORKSPACE_APP.value, 14),
        (ConnectionType.PORT_FORWARDING.value, 5),
        (ConnectionType.TUNNEL.value, 3),
    ]
)
# Median session length in seconds and its spread (log-normal), per agent type.
DURATIONS = {
    "ssh": (15 * 60, 1.4),
    "vscode": (2 * 3600, 1.0),
    "jetbrains": (3 * 3600, 0.9),
    "reconnecting_pty": (5 * 60, 1.2),
}
REASONS = weighted(
    [
        ("normal closure", 50),
        ("client disconnected", 20),
        ("connection reset by peer", 8),
        ("agent shutting down", 5),
        ("workspace stopped", 6),
        ("idle timeout", 8),
        ("", 3),
    ]
)
# Shells report exit codes; IDE sessions mostly do not.
SHELL_EXIT_CODES = weighted([(0, 70), (1, 10), (130, 8), (255, 5), (137, 3), (2, 2), (None, 2)])
IDE_EXIT_CODES = weighted([(None, 80), (0, 20)])
STATUS_CODES = weighted(
    [
        (200, 78),
        (101, 4),
        (204, 2),
        (302, 4),
        (304, 3),
        (401, 2),
        (403, 2),
        (404, 2.5),
        (500, 1),
        (502, 1.5),
        (503, 0.5),
    ]
)
ANONYMOUS_STATUS_CODES = weighted([(302, 40), (401, 35), (403, 20), (404, 5)])
# A tunnel is accepted (101, the upgrade) or denied (403): the read contract's two values.
TUNNEL_STATUS_CODES = weighted([(101, 92), (403, 8)])
SLUGS = {
    "workspace_app": ["code-server", "jupyter", "grafana", "filebrowser", "terminal"],
    "port_forwarding": ["3000", "5173", "8000", "8080", "8888", "9090"],
    "tunnel": ["22", "443", "5432", "6379"],
}
USER_AGENTS = weighted(
    [
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            35,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
            20,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            12,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Safari/605.1.15",
            10,
        ),
        ("curl/8.8.0", 8),
        ("Go-http-client/1.1", 5),
        ("python-requests/2.32.3", 4),
        ("Coder VS Code Extension/1.3.0", 4),
        (HOSTILE_USER_AGENT, 1),
        ('"><img src=x onerror=alert(document.domain)>', 1),
    ]
)
# Share of a day's connections per UTC hour (teams in Europe and the Americas).
HOUR_WEIGHTS = [
    0.15, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 0.9,
    0.8, 0.9, 1.0, 1.0, 1.0, 0.95, 0.8, 0.6, 0.45, 0.35, 0.25, 0.2,
]  # fmt: skip
WEEKEND_WEIGHT = 0.3
LOST_DISCONNECT = 0.003  # an agent that died without reporting: an old "ongoing" row
LOST_CONNECT = 0.005  # a disconnect whose connect never arrived
MAX_SESSION = 3 * 86400.0


def person_addresses(rng: random.Random, index: int) -> tuple[list, list[float]]:
    """A person's usual addresses: office and home IPv4, an IPv6 one, rarely unknown."""
    office = f"203.0.113.{10 + index}"
    home = f"198.51.100.{rng.randrange(2, 250)}"
    v6 = f"fd7a:115c:a1e0:{index + 1:x}::{rng.randrange(1, 0xFFFF):x}"
    vpn = f"10.{rng.randrange(0, 255)}.{rng.randrange(0, 255)}.{rng.randrange(2, 250)}"
    return weighted([(office, 40), (home, 25), (v6, 22), (vpn, 10), (None, 3)])
