"""Outcome callbacks: when a send (or a verification) settles, POST its record to its ``callback_url``.

The path of one callback, and who keeps it safe at each step:

1. enqueue (:mod:`worker.enqueue.callback_url`): the URL is checked (http(s), public host)
   and stored on the record; the id goes into the watch set ``cbwatch:<kind>`` first;
2. :mod:`.watch` (run by the correlator every half second): a watched record whose state
   is settled and not yet told becomes a ``pinrelay.deliver_callback`` task; the entry is
   leased, so a task lost on the way is published again;
3. :mod:`.delivery` (a Celery worker): one signed POST (:mod:`.signing`), to an address
   checked again right then; ``callback_outcome.lua`` records the outcome on the record
   and schedules the next attempt (backoff) in the watch set, until a 2xx or
   ``PINRELAY_CALLBACK_RETRY_DEADLINE``.

Redis holds the schedule, not a waiting Celery task, so no process crash loses a callback and
no retry sits in a worker's memory past the broker's visibility timeout. Delivery is at
least once: ``X-Pinrelay-Event-Id`` is the same for every attempt of one event.
"""
