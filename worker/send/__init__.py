"""Stage 3, send: the delivery use case without Celery (:mod:`.delivery`), the provider
client that classifies every answer (:mod:`.provider`), the one retry policy (:mod:`.retry`),
the cluster-wide rate limit (:mod:`.ratelimit`) and conversion reports (:mod:`.conversions`)."""
