"""The HTTP producer API: any service, in any language, sends and verifies PINs over HTTP.

A plain WSGI app (:mod:`.app`, like the receipt receiver) under granian, its own process
(``pinrelay api``). Each request: route (:mod:`.app`), authenticate the bearer key and spend
one unit of its rate limit in one Redis step (:mod:`.keys`), parse the JSON (:mod:`.http`),
then the same Python API as ``import worker`` (:mod:`.pins`, :mod:`.verifications`).
Errors are :mod:`.errors`; the document at ``/openapi.json`` is ``openapi.json`` beside
this file (:mod:`.openapi`). Outcome callbacks are :mod:`worker.callbacks`.
"""
