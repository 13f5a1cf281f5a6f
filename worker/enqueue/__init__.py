"""Stage 1, enqueue: validate a send request, check the abuse limits, store the record and
publish its task in two Redis round trips (:mod:`.producer`; :mod:`.request`, :mod:`.abuse`,
:mod:`.task_message`)."""
