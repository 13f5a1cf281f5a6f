"""A port something listens on is found before a server starts, and named in the error."""

from __future__ import annotations

import socket

import pytest

from webhook.http.ports import port_is_free, require_free_ports
from worker.errors import ConfigError
from worker.local.embedded import free_port


def test_a_listening_port_is_busy_and_a_free_one_is_free() -> None:
    """A listener (as granian's SO_REUSEPORT one) is seen; an unused port is not."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_is_free(port)
        assert not port_is_free(port, "0.0.0.0")
    assert port_is_free(free_port())


def test_the_error_names_the_port_and_what_wanted_it() -> None:
    """require_free_ports raises ConfigError with the port number and its role."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} \\(receipt receiver\\) is already in use"):
            require_free_ports([("simulator", free_port()), ("receipt receiver", port)])
