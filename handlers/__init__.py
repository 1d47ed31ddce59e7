"""What the bot does, platform-neutral.

Each feature module exposes ``register(router)``; the list of features lives in
:mod:`handlers.registry`. Nothing here imports a chat platform SDK.
"""
