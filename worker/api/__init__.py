"""The HTTP producer API: any service, in any language, sends and verifies PINs over HTTP.

Its own process (``pinrelay api``, :mod:`.serve`), on the same HTTP core as the receipt
receiver (:mod:`webhook.http`) behind granian's RSGI front (:mod:`.rsgi`). Each request: route
(the table in :mod:`.app`), the body read on the event loop under its deadline, then on a
handler thread: authenticate the bearer key and spend one unit of its rate limit in one Redis
step (:mod:`.keys`), read the JSON (:mod:`.http`), then the same Python API as ``import
worker`` (:mod:`.pins`, :mod:`.verifications`). Errors are :mod:`.errors`; the document at
``/openapi.json`` is ``openapi.json`` beside this file (:mod:`.openapi`). Outcome callbacks
are :mod:`worker.callbacks`.
"""
