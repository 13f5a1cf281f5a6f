"""Stage 1, enqueue: validate a send request, check the abuse limits, store the record and
publish its task in one Redis round trip (:mod:`.producer`; :mod:`.request` with its NANP fast
path :mod:`.nanp`, :mod:`.abuse`, :mod:`.task_message`; bulk enqueue chunk by chunk:
:mod:`.chunks`)."""
