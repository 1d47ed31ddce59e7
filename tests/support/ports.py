"""Loopback ports for tests that run side by side (pytest-xdist workers, other processes).

Picking a free port, closing it and binding it again later leaves a moment where another
worker can take it. Where the test's own process serves, it serves the very socket the
kernel gave a port to (`bound_socket`); where a test needs an address that nobody
answers, it keeps the port bound without listening (`refused_port`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["bound_socket", "refused_port"]


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to ``host`` on a port the kernel picks, for ``web.SockSite``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port where connections are refused for as long as the block runs.

    The socket is bound but never listens: a connection gets a reset, and no other
    process can bind the port meanwhile (a port merely found free could be serving
    someone else's server by the time the test connects).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        yield int(sock.getsockname()[1])
