"""Stage 2, the task queue: the Celery app (:mod:`.app`), kombu's Redis transport with one
client per channel (:mod:`.transport`), thin task adapters (:mod:`.tasks`), the per-process
collaborators built after a fork (:mod:`.wiring`) and the broker durability check."""
