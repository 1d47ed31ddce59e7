"""The runtime: configuration, the CLI, the platform adapters, delivery, start-up and shutdown.

Only this package imports slack_bolt, slack_sdk or nio.
"""
