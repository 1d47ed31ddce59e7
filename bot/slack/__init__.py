"""Slack: the Bolt app (HTTP mode or Socket Mode), the translation of Slack payloads to
neutral events, and the sender that delivers the outbox through the Web API.

Only this package imports slack_bolt and slack_sdk.
"""

from bot.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
