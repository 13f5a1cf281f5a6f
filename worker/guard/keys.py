"""The pumping guard's Redis keys, stats fields, rules and modes: every name, defined once.

Names are relative to ``PINRELAY_KEY_PREFIX``. The decision path (``create.lua`` and the guard's
Python side) writes them; ``pinrelay guard``, the correlator's metrics, ``pinrelay report`` and
``pinrelay doctor`` read them. Every key has a TTL or a cap (docs/architecture.md's key table):

=============================================  ===============================================
key                                            what
=============================================  ===============================================
``guard:q:key:h:<origin>:<YYYYMMDDHH>``        sends of one origin (API key id, producer) this
                                               UTC hour: a string counter, TTL window + 1 h
``guard:q:key:d:<origin>:<YYYYMMDD>``          the same per UTC day
``guard:q:cty:h:<CC>:<YYYYMMDDHH>``            sends to one country this hour
``guard:q:cty:b:<CC>:<YYYYMMDDHH><m>``         sends to one country in a 10-minute slot (m 0-5)
``guard:spend:<YYYYMMDD>``                     money spent (estimated, then as priced) that day
``guard:share:<origin>``                       the origin's send-share GCRA time (ms, PX)
``guard:pfx:<prefix>`` / ``guard:conv:<prefix>``  judged / converted sends in the window (zsets)
``guard:block:<prefix>``                       hash {since, until, sends, conversions}, PX
``guard:blocked``                              zset prefix -> until (unix ms), capped
``guard:wouldblock:<prefix>`` / ``guard:wouldblock``  the same, what monitor mode would block
``guard:safe``                                 set: prefixes and numbers never blocked
``guard:peak:<YYYYMMDDHH>``                    hash quota -> highest use ratio that hour, 25 h
``guard:origins:<YYYYMMDD>``                   set: the origins that sent that UTC day, TTL 2 days
=============================================  ===============================================

Decisions are counted in the ``stats`` hash as ``guard:<rule>:<mode>``; the judged sends and
conversions per country as ``guard:sent:<CC>`` / ``guard:converted:<CC>``.
"""

from __future__ import annotations

import functools
import time
from typing import Final

KEY_GUARD: Final = "guard:"
KEY_QUOTA_KEY_HOUR: Final = "guard:q:key:h:"  # + origin + ':' + YYYYMMDDHH
KEY_QUOTA_KEY_DAY: Final = "guard:q:key:d:"  # + origin + ':' + YYYYMMDD
KEY_QUOTA_COUNTRY_HOUR: Final = "guard:q:cty:h:"  # + CC + ':' + YYYYMMDDHH
KEY_QUOTA_COUNTRY_BURST: Final = "guard:q:cty:b:"  # + CC + ':' + YYYYMMDDHH + one digit (10-min slot)
KEY_SPEND: Final = "guard:spend:"  # + YYYYMMDD
KEY_SHARE: Final = "guard:share:"  # + origin
KEY_PREFIX_SENDS: Final = "guard:pfx:"  # + prefix
KEY_PREFIX_CONVERSIONS: Final = "guard:conv:"  # + prefix
KEY_BLOCK: Final = "guard:block:"  # + prefix
KEY_BLOCKED: Final = "guard:blocked"
KEY_WOULD_BLOCK: Final = "guard:wouldblock:"  # + prefix
KEY_WOULD_BLOCKED: Final = "guard:wouldblock"
KEY_SAFE: Final = "guard:safe"
KEY_PEAK: Final = "guard:peak:"  # + YYYYMMDDHH
KEY_ORIGINS: Final = "guard:origins:"  # + YYYYMMDD: who sent that day (status reads it, no SCAN)

STATS_GUARD: Final = "guard:"  # stats fields guard:<rule>:<mode>, guard:sent:<CC>, guard:converted:<CC>
STATS_SENT: Final = "guard:sent:"
STATS_CONVERTED: Final = "guard:converted:"

MODES: Final = ("enforce", "monitor", "off")
RULES: Final = ("number_type", "key_hourly", "key_daily", "country_hourly", "country_burst", "spend_cap",
                "key_send_share", "prefix_blocked", "prefix_would_block", "fail_open")
# The quotas whose use is a ratio of a limit (the peak hash's fields and the metric's label),
# and the setting that raises each.
QUOTAS: Final = ("key_hourly", "key_daily", "country_hourly", "country_burst", "spend_cap")
QUOTA_SETTINGS: Final = {
    "key_hourly": "PINRELAY_KEY_HOURLY_QUOTA",
    "key_daily": "PINRELAY_KEY_DAILY_QUOTA",
    "country_hourly": "PINRELAY_COUNTRY_HOURLY_CAP",
    "country_burst": "PINRELAY_COUNTRY_BURST_10MIN",
    "spend_cap": "PINRELAY_DAILY_SPEND_CAP",
}
DEFAULT_ORIGIN: Final = "producer"  # origin of Python API / CLI / send_task sends that name none
BLOCKED_INDEX_MAX: Final = 10_000  # members kept in guard:blocked and guard:wouldblock
PREFIX_TAIL_DIGITS: Final = 4  # a prefix is the E.164 number without its last four digits


@functools.lru_cache(maxsize=16)  # a batch asks for the same instant thousands of times
def hour_slot(at: float) -> str:
    """``YYYYMMDDHH`` of the UTC hour ``at`` (unix seconds) falls in."""
    return time.strftime("%Y%m%d%H", time.gmtime(at))


@functools.lru_cache(maxsize=16)
def day_slot(at: float) -> str:
    """``YYYYMMDD`` of the UTC day."""
    return time.strftime("%Y%m%d", time.gmtime(at))


def burst_slot(at: float) -> str:
    """``YYYYMMDDHH`` + the 10-minute slot of the hour (0-5)."""
    return hour_slot(at) + str(time.gmtime(at).tm_min // 10)


def prefix_of(number: str) -> str:
    """The guard's prefix of an E.164 number (digits, no ``+``): all but its last four digits."""
    return number[:-PREFIX_TAIL_DIGITS]
