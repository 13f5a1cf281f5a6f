"""Stage 3, send: the delivery use case without Celery (:mod:`.delivery`), the provider routes
(:mod:`.routes`: sc2fa, sms, twilio) and the router with their shared breakers (:mod:`.router`),
the failover table (:mod:`.failover`), the HTTP transport (:mod:`.transport`), the one retry
policy (:mod:`.retry`), the cluster-wide rate limit (:mod:`.ratelimit`), each route's delivery
rate (:mod:`.route_health`, :mod:`.route_metrics`) and conversion reports (:mod:`.conversions`)."""
