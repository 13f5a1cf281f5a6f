"""The delivery-receipt receiver: receipts (Vonage DLRs, Twilio status callbacks, Messages API status
webhooks) onto a Redis Stream.

::

    app.py       the receiver: its route table, handlers and answers (answers.py)
    intake.py    one receipt from request pieces to stream entry, and back to an answer
    receipts.py  parse and validate a receipt, check its signature (worker.signing)
    twilio/      Twilio status callbacks and X-Twilio-Signature (Auth Token or SharedKey)
    messages/    Vonage Messages API status webhooks and their HS256 JWTs
    queue.py     the durable result stream (one Lua push per batch, replay keys, backlog bound)
    writer.py    pushes from the event loop, group-committed on one thread
    errors.py    why a receipt was refused, one class per HTTP answer
    http/        the HTTP core it runs on, shared with the producer API (worker.api), and its
                 two adapters: the RSGI front granian serves, a WSGI app for any WSGI server
    rsgi.py      ``webhook.rsgi:app_factory``: what ``pinrelay webhook`` runs under granian
    wsgi.py      ``webhook.wsgi:app_factory``: for a WSGI server behind a buffering proxy
    serve.py     ``pinrelay webhook``: who may listen where, then the core's granian launcher

Importing it loads neither Celery nor phonenumbers (a receiver process never needs them).
"""

from __future__ import annotations

from .app import Receiver, create_app
from .errors import (
    CallbackRefusedError,
    MalformedReceiptError,
    ReceiptError,
    SignatureRejectedError,
    UnsupportedMediaTypeError,
)
from .http.errors import HttpError
from .queue import ResultQueue
from .receipts import Receipt
from .serve import serve

__all__ = [
    # the receiver: as a WSGI app, as the app on the HTTP core, and `pinrelay webhook`
    "create_app", "Receiver", "serve",
    # what it queues
    "Receipt", "ResultQueue",
    # why a request was refused
    "HttpError", "ReceiptError", "MalformedReceiptError", "SignatureRejectedError",
    "CallbackRefusedError", "UnsupportedMediaTypeError",
]
