"""Is a TCP port free? Asked before a server starts, so a clash is an error, not a surprise.

Used by the granian launcher (:mod:`webhook.http.launcher`) and by ``pinrelay up`` for every
port it will listen on.

granian binds with ``SO_REUSEPORT``: a second receiver on a port already served by
another starts without complaint and the kernel splits the connections between
them. A plain bind (``SO_REUSEADDR`` only, so a socket left in TIME_WAIT by the last
run does not count) fails on any listener, which is the answer we want.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from worker.errors import ConfigError

__all__ = ["port_is_free", "require_free_ports"]


def _probe_host(host: str) -> str:
    """Binding 127.0.0.1 also collides with a listener on 0.0.0.0; "all interfaces" is probed as is."""
    return "127.0.0.1" if host in ("", "localhost") else host


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port`` (IPv4 or IPv6 by the host's form)."""
    host = _probe_host(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return True


def require_free_ports(ports: Iterable[tuple[str, int]], host: str = "127.0.0.1") -> None:
    """Raise :class:`ConfigError` naming the first ``(what, port)`` something already holds."""
    for what, port in ports:
        if port and not port_is_free(port, host):
            raise ConfigError(
                f"port {port} ({what}) is already in use on {_probe_host(host)}: stop whatever "
                "holds it (another `pinrelay up`?) or choose another port"
            )
