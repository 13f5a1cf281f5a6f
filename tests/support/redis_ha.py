"""Real Redis topologies for tests: a TLS server with a CA made on the spot, and a primary with
a replica watched by three Sentinels, each a ``redis-server`` process on loopback with its own
temporary directory and free port.

Every process here is started by the test and stopped (or SIGKILLed, as the fault) by it;
readiness is polled, never slept for.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from tests.support.waiting import wait_for
from worker.local.embedded import find_redis_server, free_port

MASTER_NAME = "pinrelay-ha"
DOWN_AFTER_MS = 1000  # a primary silent this long is subjectively down
FAILOVER_TIMEOUT_MS = 3000


@dataclass(frozen=True)
class TlsFiles:
    """A throw-away CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A CA and a server certificate (EC P-256, valid two days) made with the openssl CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "redis.crt", directory / "redis.key", directory / "redis.csr"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=pinrelay test CA"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext],
    ):
        subprocess.run(["openssl", *map(str, argv)], check=True, capture_output=True, timeout=30)
    return TlsFiles(ca, cert, key)


def tls_server_args(files: TlsFiles) -> list[str]:
    """``redis-server`` options for TLS with ``files`` (clients need no certificate of their own)."""
    return ["--tls-cert-file", str(files.cert), "--tls-key-file", str(files.key),
            "--tls-ca-cert-file", str(files.ca), "--tls-auth-clients", "no"]


def tls_supported() -> bool:
    """Whether this redis-server was built with TLS (it refuses ``--tls-port`` otherwise)."""
    done = subprocess.run([find_redis_server(), "--tls-port", "0", "--port", "0"],
                          capture_output=True, text=True, timeout=10, check=False)
    return "not listen anywhere" in done.stdout + done.stderr


@dataclass
class RedisNode:
    """One ``redis-server`` (or Sentinel) process; ``tls`` means it listens with TLS only."""

    role: str
    extra: list[str] = field(default_factory=list)
    tls: TlsFiles | None = None
    sentinel: bool = False
    password: str | None = None
    port: int = field(default_factory=free_port)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pinrelay-ha-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A plain client of this node (Sentinel commands included), for the test's own checks."""
        tls = {"ssl": True, "ssl_ca_certs": str(self.tls.ca)} if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5,
                           socket_timeout=2, password=self.password, **tls, **kwargs)

    def start(self) -> RedisNode:
        ports = (["--port", "0", "--tls-port", str(self.port), *tls_server_args(self.tls)]
                 if self.tls else ["--port", str(self.port)])
        argv = [find_redis_server()]
        if self.sentinel:
            conf = self.data_dir / "sentinel.conf"  # Sentinel rewrites its config file: it must exist
            conf.write_text("")
            argv += [str(conf), "--sentinel"]
        else:  # a replica syncs at once (the default waits 5 s for more replicas to join)
            argv += ["--repl-diskless-sync-delay", "0"]
        argv += [*ports, "--bind", "127.0.0.1", "--dir", str(self.data_dir), "--save", "",
                 "--appendonly", "no", "--logfile", str(self.data_dir / f"{self.role}.log"), *self.extra]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        try:
            wait_for(lambda: self._answers(client), 10, f"{self.role} on port {self.port}")
        finally:
            client.close()
        return self

    def _answers(self, client: redis.Redis) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.role} exited; see {self.data_dir}/{self.role}.log")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class SentinelGroup:
    """A primary, one replica and three Sentinels (quorum 2) on loopback (fewer Sentinels: a
    group that serves but cannot fail over, for tests that need no failover).

    The Sentinels judge the primary down after :data:`DOWN_AFTER_MS` and promote the replica;
    :meth:`kill_primary` is the fault, :meth:`current_primary` what the Sentinels now say.
    With ``tls`` every node (Sentinels included) speaks TLS only, replication too.
    """

    def __init__(self, tls: TlsFiles | None = None, sentinels: int = 3, password: str | None = None,
                 db: int = 0) -> None:
        self.tls, self.password, self.db = tls, password, db
        self.quorum = min(2, sentinels)
        repl = ["--tls-replication", "yes"] if tls else []
        if password:
            repl += ["--requirepass", password, "--masterauth", password]
        self.nodes: list[RedisNode] = []
        self.primary = self._start(RedisNode("primary", repl, tls, password=password))
        self.replica = self._start(RedisNode(
            "replica", [*repl, "--replicaof", "127.0.0.1", str(self.primary.port)], tls,
            password=password))
        self.sentinels = [self._start_sentinel(i) for i in range(sentinels)]

    def _start(self, node: RedisNode) -> RedisNode:
        self.nodes.append(node)
        return node.start()

    def _start_sentinel(self, index: int) -> RedisNode:
        monitor = ["--sentinel", "monitor", MASTER_NAME, "127.0.0.1", str(self.primary.port),
                   str(self.quorum)]
        options = [
            *monitor,
            "--sentinel", "down-after-milliseconds", MASTER_NAME, str(DOWN_AFTER_MS),
            "--sentinel", "failover-timeout", MASTER_NAME, str(FAILOVER_TIMEOUT_MS),
            "--sentinel", "parallel-syncs", MASTER_NAME, "1",
        ]
        if self.tls:
            options += ["--tls-replication", "yes"]
        if self.password:
            options += ["--sentinel", "auth-pass", MASTER_NAME, self.password]
        return self._start(RedisNode(f"sentinel{index}", options, self.tls, sentinel=True))

    @property
    def addresses(self) -> str:
        """``PINRELAY_REDIS_SENTINELS``: the Sentinels as ``host:port,host:port``."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def settings(self) -> dict[str, Any]:
        """Settings fields pointing pinrelay at this group: only the Sentinels and the name, plus
        a host-less URL for the password and db."""
        scheme = "rediss" if self.tls else "redis"
        auth = f":{self.password}@" if self.password else ""
        values: dict[str, Any] = {
            "redis_url": f"{scheme}://{auth}/{self.db}",
            "redis_sentinels": tuple(self.addresses.split(",")),
            "redis_sentinel_master": MASTER_NAME,
        }
        if self.tls:
            values["redis_ca_file"] = str(self.tls.ca)
        return values

    def current_primary(self) -> int | None:
        """The primary's port as the first Sentinel that answers reports it."""
        for sentinel in self.sentinels:
            if sentinel.process is None or sentinel.process.poll() is not None:
                continue
            client = sentinel.client()
            try:
                host_port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                return int(host_port[1]) if host_port else None
            except redis.RedisError:
                continue
            finally:
                client.close()
        return None

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until every Sentinel knows the replica and the other Sentinels (a failover can start)."""

        def ready() -> bool:
            for sentinel in self.sentinels:
                client = sentinel.client()
                try:
                    state = _pairs(client.execute_command("SENTINEL", "MASTER", MASTER_NAME))
                    others = len(self.sentinels) - 1
                    if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < others:
                        return False
                    (replica,) = client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
                    if _pairs(replica).get("master-link-status") != "ok":
                        return False
                except (redis.RedisError, ValueError, KeyError):
                    return False
                finally:
                    client.close()
            return True

        wait_for(ready, timeout, "the Sentinels to see the replica and each other")

    def kill_primary(self) -> None:
        self.primary.kill()

    def wait_promoted(self, timeout: float = 30.0) -> None:
        """Until the Sentinels name the replica as the primary."""
        wait_for(lambda: self.current_primary() == self.replica.port, timeout, "the replica's promotion")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A Sentinel reply (``[name, value, name, value, ...]``) as a dict of text.

    Raw, because redis-py 6.4's ``sentinel_master()`` on a plain client passes its
    ``return_responses`` option to the reply parser, which refuses it."""
    text = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    return dict(zip(text[::2], text[1::2], strict=True))
