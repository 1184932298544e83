"""Alert rules: a saved view or ``q`` watched on the change feed, notifying a webhook, a
Slack-compatible incoming webhook or email when it matches ("each new match", "at least N
within W minutes", or "an address new for its owner"), with a cooldown.

``models`` holds the tables, ``evaluation`` turns new matches into firings, ``rounds`` one
rule's round under its lease (the streams' design: cursor on the feed, lease, backoff),
``notify`` the senders, ``tasks`` the background task and its dispatch, ``access`` who may
see a rule, ``presets`` the shipped examples. docs/alerts.md describes them for users.
"""
