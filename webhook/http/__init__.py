"""The HTTP core the receiver and the producer API share, and its two server adapters.

::

    answers.py    an answer is (status, headers, body); JSON answers
    errors.py     HttpError and the core's refusals (400 / 408 / 413, JSON bodies)
    routing.py    route tables: Endpoint, Router (404 / 405 with Allow)
    jsonbody.py   the one strict JSON reader (no duplicate names, no NaN, depth refused)
    deadlines.py  one timer for every body being read on an event loop
    threads.py    a few threads for blocking calls, each outcome handed back on the loop
    core.py       HttpCore: route, read the body by the rules, run the handler, answer, count
    rsgi.py       the RSGI front granian serves (production): body deadline, Connection: close
    wsgi.py       the WSGI adapter, for any WSGI server behind a buffering proxy
    metrics.py    GET /metrics, added up over granian's worker processes
    launcher.py   granian in the foreground: argv, env, ports, ready, stop with a SIGKILL grace
    ports.py      is a port free (granian's SO_REUSEPORT would share it silently)

An app on the core is a table of endpoints and its own wording (:class:`HttpApp`): the
receiver (:mod:`webhook.app`) answers on the loop, the API (:mod:`worker.api.app`) runs its
blocking handlers on the core's thread pool. Nothing here imports Celery or an app.
"""

from __future__ import annotations

from .answers import Answer, json_answer
from .core import HttpApp, HttpCore, Request
from .errors import HttpError
from .routing import Endpoint, Router
from .rsgi import RSGIFront
from .wsgi import WSGIAdapter

__all__ = [
    "Answer", "json_answer",
    "HttpApp", "HttpCore", "Request", "HttpError",
    "Endpoint", "Router",
    "RSGIFront", "WSGIAdapter",
]
