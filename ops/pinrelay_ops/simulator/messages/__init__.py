"""The Vonage Messages API side of the simulator: ``POST /v1/messages`` with ``channel: sms``
(docs/provider-routes.md §E).

One concern per module: :mod:`.route` (the route itself), :mod:`.auth` and :mod:`.keys`
(an application's RS256 JWT or Basic auth), :mod:`.checks` (the request body),
:mod:`.answers` (202 and the RFC 7807 problem answers), :mod:`.webhooks` (the status
webhooks an accepted message gets) and :mod:`.signing` (their HS256 JWT).
"""
