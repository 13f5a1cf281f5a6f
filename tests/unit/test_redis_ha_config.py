"""Sentinel and TLS settings: how they fold into the one connection URL, what each client
library is handed, and which combinations are refused (by variable name)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import kombu.transport
import pytest
import redis
from redis.sentinel import MasterNotFoundError, SentinelConnectionPool, SentinelManagedSSLConnection

from worker.config import Settings
from worker.errors import ConfigError
from worker.redisconn import redis_client, redis_pool, sentinel_options
from worker.redisurl import kombu_broker_url, parse_sentinel_url
from worker.taskqueue import transport
from worker.taskqueue.app import celery_config

SENTINELS = "10.0.0.5:26379,10.0.0.6:26380"


def ha_env(**extra: str) -> dict[str, str]:
    return {"PINRELAY_REDIS_SENTINELS": SENTINELS, "PINRELAY_REDIS_SENTINEL_MASTER": "mymaster", **extra}


def test_sentinels_alone_give_db_0_without_a_password() -> None:
    settings = Settings.from_env(ha_env())
    assert settings.redis_url == "redis+sentinel://10.0.0.5:26379,10.0.0.6:26380/0?master=mymaster"
    target = parse_sentinel_url(settings.redis_url)
    assert target.sentinels == (("10.0.0.5", 26379), ("10.0.0.6", 26380))
    assert target.master == "mymaster" and target.plain == "redis:///0"


def test_redis_url_gives_user_password_db_and_tls_its_host_is_dropped() -> None:
    settings = Settings.from_env(ha_env(PINRELAY_REDIS_URL="rediss://worker:p%40ss@old-host:6379/3"))
    assert settings.redis_url == ("rediss+sentinel://worker:p%40ss@10.0.0.5:26379,10.0.0.6:26380/3"
                                  "?master=mymaster")
    assert "p%40ss" not in repr(settings) and "old-host" not in repr(settings)


def test_folding_is_idempotent_across_processes_and_replace() -> None:
    """A child rebuilds the same settings from to_env(); replace() folds nothing twice."""
    ca = __file__  # any readable file will do as the CA path
    settings = Settings.from_env(ha_env(PINRELAY_REDIS_URL="rediss://:pw@/2", PINRELAY_REDIS_CA_FILE=ca))
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.replace(queue="other").redis_url == settings.redis_url
    assert settings.redis_url and settings.redis_url.endswith(f"&ssl_ca_certs={ca}")


def test_the_ca_file_rides_in_a_plain_rediss_url() -> None:
    settings = Settings.from_env({"PINRELAY_REDIS_URL": "rediss://h:6380/0",
                                  "PINRELAY_REDIS_CA_FILE": __file__})
    assert settings.redis_url == f"rediss://h:6380/0?ssl_ca_certs={__file__}"
    pool = redis_pool(settings.redis_url)
    assert pool.connection_kwargs["ssl_ca_certs"] == __file__
    assert pool.connection_class is redis.SSLConnection


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PINRELAY_REDIS_SENTINELS": SENTINELS}, "PINRELAY_REDIS_SENTINEL_MASTER"),
        ({"PINRELAY_REDIS_SENTINEL_MASTER": "m"}, "PINRELAY_REDIS_SENTINELS"),
        ({"PINRELAY_REDIS_SENTINELS": "10.0.0.5"}, "PINRELAY_REDIS_SENTINELS='10.0.0.5'"),
        ({"PINRELAY_REDIS_SENTINELS": "h:0"}, "PINRELAY_REDIS_SENTINELS"),
        ({"PINRELAY_REDIS_SENTINELS": "h:x"}, "PINRELAY_REDIS_SENTINELS"),
        (ha_env(PINRELAY_REDIS_URL="unix:///run/redis.sock"), "not a socket"),
        ({"PINRELAY_REDIS_CA_FILE": "/no/such/ca.pem"}, "PINRELAY_REDIS_CA_FILE='/no/such/ca.pem'"),
        ({"PINRELAY_REDIS_URL": "redis://h/0", "PINRELAY_REDIS_CA_FILE": __file__}, "rediss://"),
    ],
)
def test_refused_combinations_say_which_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert named in str(info.value)


def test_ipv6_sentinels() -> None:
    settings = Settings.from_env({"PINRELAY_REDIS_SENTINELS": "[::1]:26379",
                                  "PINRELAY_REDIS_SENTINEL_MASTER": "m"})
    assert parse_sentinel_url(settings.redis_url or "").sentinels == (("::1", 26379),)
    assert settings.effective_broker_url == "sentinel://[::1]:26379/0"


def test_broker_url_is_kombus_sentinel_form_with_credentials_on_the_first() -> None:
    settings = Settings.from_env(ha_env(PINRELAY_REDIS_URL="redis://u:pw@/4"))
    assert settings.effective_broker_url == "sentinel://u:pw@10.0.0.5:26379/4;sentinel://10.0.0.6:26380"
    conn = kombu.Connection(settings.effective_broker_url)
    assert (conn.transport_cls, conn.userid, conn.password, conn.virtual_host) == ("sentinel", "u", "pw", "4")
    assert kombu_broker_url("redis://h/0") == "redis://h/0"


def test_celery_gets_the_master_name_sentinel_options_and_tls() -> None:
    settings = Settings.from_env(ha_env(PINRELAY_REDIS_URL="rediss://:pw@/0",
                                        PINRELAY_REDIS_CA_FILE=__file__))
    config = celery_config(settings)
    options = config["broker_transport_options"]
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"] == {"socket_timeout": 5.0, "socket_connect_timeout": 3.0,
                                          "ssl": True, "ssl_ca_certs": __file__}
    assert config["broker_use_ssl"] == {"ssl_cert_reqs": 2, "ssl_ca_certs": __file__}
    plain = celery_config(Settings.from_env({"PINRELAY_REDIS_URL": "redis://h/0"}))
    assert plain["broker_use_ssl"] is False and "master_name" not in plain["broker_transport_options"]


def test_the_factory_builds_a_sentinel_pool_with_the_urls_options() -> None:
    env = ha_env(PINRELAY_REDIS_URL="rediss://u:pw@/5", PINRELAY_REDIS_CA_FILE=__file__)
    url = Settings.from_env(env).redis_url
    client = redis_client(url or "", decode_responses=True, socket_timeout=1)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    assert pool.connection_class is SentinelManagedSSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("u", "pw", 5)
    assert kwargs["decode_responses"] is True and kwargs["socket_timeout"] == 1
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool
    assert sentinel.connection_class is redis.SSLConnection
    assert sentinel.connection_kwargs["password"] is None  # the primary's password is not theirs
    assert sentinel_options(url or "", socket_timeout=1)["socket_timeout"] == 1
    client.close()


def test_a_sentinel_broker_names_our_patient_transport() -> None:
    """The app names the class (``broker_transport``); kombu's ``sentinel`` alias stays kombu's."""
    before = dict(kombu.transport.TRANSPORT_ALIASES)
    config = celery_config(Settings.from_env(ha_env()))
    assert config["broker_transport"] == "worker.taskqueue.transport:SentinelTransport"
    assert before == kombu.transport.TRANSPORT_ALIASES
    assert transport.SentinelChannel.connection_class is transport.PatientSentinelConnection


class _FlakySentinels:
    """A Sentinel manager that names no primary for the first ``misses`` asks."""

    def __init__(self, address: tuple[str, int], misses: int) -> None:
        self.address, self.misses, self.asks = address, misses, 0

    def discover_master(self, name: str) -> tuple[str, int]:
        self.asks += 1
        if self.asks <= self.misses:
            raise MasterNotFoundError(f"No master found for {name!r}")
        return self.address


def test_a_patient_connection_rides_out_a_failover(redis_url: str, tmp_path: Path) -> None:
    """kombu's broker connection keeps asking while no primary is named, then connects."""
    host, port = redis.connection.parse_url(redis_url)["host"], redis.connection.parse_url(redis_url)["port"]
    manager: Any = _FlakySentinels((host, port), misses=4)
    pool = SentinelConnectionPool("m", manager, connection_class=transport.PatientSentinelConnection)
    started = time.monotonic()
    assert redis.Redis(connection_pool=pool).ping()
    assert manager.asks == 5
    assert time.monotonic() - started >= 2 * transport.FAILOVER_POLL_S
    pool.disconnect()


def test_with_redis_points_at_that_redis_only() -> None:
    """`pinrelay bench` and `up` point settings at their own Redis: Sentinels configured in the
    environment must not be folded over it (a bench would clean up keys on the real primary)."""
    env = ha_env(PINRELAY_REDIS_URL="rediss://:pw@/0", PINRELAY_REDIS_CA_FILE=__file__)
    settings = Settings.from_env(env)
    assert settings.with_redis("redis://127.0.0.1:7000/0").redis_url == "redis://127.0.0.1:7000/0"
    tls = settings.with_redis("rediss://127.0.0.1:7000/0")
    assert tls.redis_url == f"rediss://127.0.0.1:7000/0?ssl_ca_certs={__file__}"


class _WrongPassword(transport.PatientSentinelConnection):
    def _connect_retry(self) -> None:
        self.attempts = getattr(self, "attempts", 0) + 1
        raise redis.AuthenticationError("invalid username-password pair")


def test_a_refused_password_is_not_waited_out() -> None:
    manager: Any = _FlakySentinels(("127.0.0.1", 1), misses=0)
    conn = _WrongPassword(connection_pool=SentinelConnectionPool("m", manager))
    started = time.monotonic()
    with pytest.raises(redis.AuthenticationError):
        conn.connect()
    assert conn.attempts == 1 and time.monotonic() - started < transport.FAILOVER_POLL_S
