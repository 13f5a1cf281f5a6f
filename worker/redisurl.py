"""Redis connection URLs that also say "through Sentinel" and "with this CA".

Every Redis client is built from one URL string (:mod:`worker.redisconn`), and every
process gets that string from ``Settings.redis_url``; so the Sentinel addresses, the
primary's name and the CA file ride in the URL, and no call site has to know whether it
is talking to one Redis or to whichever one the Sentinels name. :class:`worker.config.Settings`
builds the URL from ``PINRELAY_REDIS_URL`` (user, password, db, TLS or not),
``PINRELAY_REDIS_SENTINELS``, ``PINRELAY_REDIS_SENTINEL_MASTER`` and ``PINRELAY_REDIS_CA_FILE``:

    redis+sentinel://[user:password@]host:port,host:port/db?master=name
    rediss+sentinel://...&ssl_ca_certs=/path/ca.pem    (TLS to the Sentinels and the primary)

A plain ``redis://`` / ``rediss://`` URL stays one redis-py understands (``ssl_ca_certs`` is
one of its query options). kombu spells a Sentinel broker differently
(``sentinel://host:port;sentinel://host:port``, the primary's name in a transport option):
:func:`kombu_broker_url` translates.

Pure string work, no redis import: :mod:`worker.config` folds the URL with it once, when the
settings are built, after :func:`worker.config.rules.redis_connection` has refused the
combinations that cannot mean what was meant.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

__all__ = [
    "SENTINEL_SCHEMES",
    "SentinelTarget",
    "is_sentinel_url",
    "is_tls_url",
    "sentinel_url",
    "parse_sentinel_url",
    "with_ca_file",
    "kombu_broker_url",
    "plain_equivalent",
]

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
MASTER_PARAM = "master"
CA_PARAM = "ssl_ca_certs"


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    """A Sentinel URL taken apart: where the Sentinels are and which primary to ask for."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    plain: str  # the same user/password/db/options as a host-less redis(s):// URL


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url).scheme in SENTINEL_SCHEMES


def is_tls_url(url: str) -> bool:
    """``rediss://`` or ``rediss+sentinel://``."""
    return urlsplit(url).scheme in ("rediss", "rediss+sentinel")


def _userinfo(netloc: str) -> str:
    """``user:password@`` (still percent-encoded) or ``""``."""
    user, at, _ = netloc.rpartition("@")
    return f"{user}@" if at else ""


def _with_query(url: str, **values: str | None) -> str:
    """``url`` with the query parameters in ``values`` set (``None`` removes one)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    query += [(k, v) for k, v in values.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/", quote_via=quote)))


def sentinel_url(base: str | None, sentinels: tuple[str, ...], master: str) -> str:
    """The Sentinel URL for ``sentinels`` (``host:port`` each) and ``master``, keeping
    ``base``'s user, password, db, TLS and options; its host and port are dropped (the
    Sentinels say where the primary is). ``base`` may already be a Sentinel URL: the result
    is the same, so building it twice (``Settings.replace``, ``to_env``) changes nothing."""
    parts = urlsplit(base or "redis:///0")
    tls = parts.scheme in ("rediss", "rediss+sentinel")
    scheme = SENTINEL_SCHEMES[1] if tls else SENTINEL_SCHEMES[0]
    netloc = _userinfo(parts.netloc) + ",".join(sentinels)
    url = urlunsplit((scheme, netloc, parts.path or "/0", parts.query, ""))
    return _with_query(url, **{MASTER_PARAM: master})


def with_ca_file(url: str, ca_file: str) -> str:
    """A TLS URL told to trust ``ca_file``; any other URL unchanged (it does no TLS)."""
    return _with_query(url, **{CA_PARAM: ca_file}) if is_tls_url(url) else url


def parse_sentinel_url(url: str) -> SentinelTarget:
    """The Sentinels, the primary's name and the rest of a Sentinel URL; ``ValueError`` if
    it names no Sentinel or no primary."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"not a Sentinel URL: scheme {parts.scheme!r}")
    hosts = parts.netloc.rpartition("@")[2]
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    master = query.pop(MASTER_PARAM, "")
    if not sentinels or not master:
        raise ValueError("a Sentinel URL needs host:port of at least one Sentinel and ?master=")
    rest = urlencode(query, safe="/", quote_via=quote)
    # by hand: urlunsplit drops the "//" of an empty host, and redis-py then refuses the URL
    plain = f"{parts.scheme.partition('+')[0]}://{_userinfo(parts.netloc)}{parts.path or '/0'}"
    plain += f"?{rest}" if rest else ""
    return SentinelTarget(sentinels, master, plain)


def _host_port(item: str) -> tuple[str, int]:
    host, colon, port = item.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} is not host:port")
    return host.strip("[]"), int(port)


def plain_equivalent(url: str) -> str:
    """For a Sentinel URL, the host-less ``redis(s)://`` URL with its credentials and db
    (what redis-py parses for the connection options); any other URL unchanged."""
    return parse_sentinel_url(url).plain if is_sentinel_url(url) else url


def kombu_broker_url(url: str) -> str:
    """The broker URL kombu's Sentinel transport reads: ``sentinel://`` per Sentinel, joined
    by ``;``, user, password and db on the first (kombu reads them from there); TLS and the
    CA go to kombu as ``broker_use_ssl``, the primary's name as the ``master_name`` transport
    option (see :func:`worker.taskqueue.app.celery_config`). Any other URL unchanged."""
    if not is_sentinel_url(url):
        return url
    target = parse_sentinel_url(url)
    parts = urlsplit(url)
    first, *others = (f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                      for host, port in target.sentinels)
    head = f"sentinel://{_userinfo(parts.netloc)}{first}{parts.path or '/0'}"
    return ";".join([head, *(f"sentinel://{other}" for other in others)])
