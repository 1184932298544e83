"""The shipped example rules: one click on the alerts page opens the rule form filled in
with one of them (the receiver is the user's to give). Each is a search of the language
(docs/search.md) and a kind; "denied" tunnels are the ones refused with HTTP 403, as in the
built-in view "Denied tunnels (24 h)"."""

from __future__ import annotations

from dataclasses import dataclass, field

from connlogs.alerts.models import RuleKind


@dataclass(frozen=True)
class RulePreset:
    key: str
    name: str
    description: str
    fields: dict = field(default_factory=dict)


RULE_PRESETS: dict[str, RulePreset] = {
    preset.key: preset
    for preset in (
        RulePreset(
            "ssh-new-address",
            "SSH from a new address",
            "An SSH session from an IP address the workspace owner has not connected from in "
            "the last 30 days.",
            {"kind": RuleKind.NEW_ADDRESS, "q": "type:ssh", "new_address_days": 30},
        ),
        RulePreset(
            "denied-tunnels-burst",
            "More than 20 denied tunnels in 5 minutes",
            "At least 21 tunnel connections refused (HTTP 403) within 5 minutes; then quiet "
            "for 30 minutes.",
            {
                "kind": RuleKind.THRESHOLD,
                "q": "type:tunnel status_code:403",
                "threshold": 21,
                "window_minutes": 5,
                "cooldown_minutes": 30,
            },
        ),
        RulePreset(
            "session-over-12h",
            "A session longer than 12 hours",
            "An agent session that lasted more than 12 hours (told when it closes: the feed "
            "changes at connect and at disconnect).",
            {"kind": RuleKind.EACH_MATCH, "q": "duration:>12h"},
        ),
        RulePreset(
            "sensitive-workspace",
            "Any connection to a sensitive workspace",
            "Every connection to the workspaces of a saved view that lists them (for example "
            '"Sensitive workspaces": workspace:payroll,prod-db); pick that view.',
            {"kind": RuleKind.EACH_MATCH, "q": ""},
        ),
    )
}
