"""The metrics port: features count what operators want to watch, without knowing Prometheus.

``bot/metrics.py`` implements it; tests and tools may use :class:`NullMetrics`.
"""

from __future__ import annotations

from typing import Protocol

KNOWN = {
    "commands": "Commands handled, by verb and outcome (ok, user_error, error).",
    "events": "Platform events handled, by platform and kind.",
    "errors": "Unexpected errors, by where they happened.",
    "votes": "Votes recorded, by platform.",
    "reminders_sent": "Reminders sent, by lateness (on_time; late: over the grace period "
                      "after their due time, e.g. the bot was down).",
    "reminders_skipped": "Reminders not sent, by reason (started, superseded, inactive).",
    "relayed": "Messages relayed by the bridge, by direction (the bridge's hook: "
               "incr('relayed', direction=…) and observe('relay_lag_seconds', …)).",
    "note_answers": "Note answers stored.",
    "outbox_sent": "Messages delivered, by platform.",
    "outbox_failed": "Messages given up after retries, by platform.",
    "retention_purged": "Rows purged or blanked by the daily retention job, by rule.",
}
OBSERVED = {
    "relay_lag_seconds": "Time from a message on one side to its copy on the other.",
    "delivery_seconds": "Time from an outbox row's creation to its delivery.",
    "reminder_delay_seconds": "Time from a reminder's due instant to its message being queued.",
}


class Metrics(Protocol):
    def incr(self, name: str, amount: float = 1, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None: ...


class NullMetrics:
    def incr(self, name: str, amount: float = 1, **labels: str) -> None:
        return None

    def observe(self, name: str, value: float, **labels: str) -> None:
        return None
