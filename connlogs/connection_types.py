"""The kinds of connection a log row records, and which are agent sessions or web requests."""

from __future__ import annotations

from django.db import models


class ConnectionType(models.TextChoices):
    SSH = "ssh", "SSH"
    VSCODE = "vscode", "VS Code"
    JETBRAINS = "jetbrains", "JetBrains"
    RECONNECTING_PTY = "reconnecting_pty", "Web terminal"
    WORKSPACE_APP = "workspace_app", "Workspace app"
    PORT_FORWARDING = "port_forwarding", "Port forwarding"
    TUNNEL = "tunnel", "Tunnel"


# Sessions reported by the workspace agent, merged on (connection_id, workspace, agent_name).
AGENT_TYPES = frozenset(
    {
        ConnectionType.SSH,
        ConnectionType.VSCODE,
        ConnectionType.JETBRAINS,
        ConnectionType.RECONNECTING_PTY,
    }
)
# Point-in-time web requests: never merged, never "ongoing" or "completed".
WEB_TYPES = frozenset(
    {ConnectionType.WORKSPACE_APP, ConnectionType.PORT_FORWARDING, ConnectionType.TUNNEL}
)

TYPE_VALUES: tuple[str, ...] = tuple(ConnectionType.values)
AGENT_TYPE_VALUES: tuple[str, ...] = tuple(t for t in TYPE_VALUES if t in AGENT_TYPES)
WEB_TYPE_VALUES: tuple[str, ...] = tuple(t for t in TYPE_VALUES if t in WEB_TYPES)
