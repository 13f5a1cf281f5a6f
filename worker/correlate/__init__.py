"""Stage 5, correlate: read the durable receipt stream (written by :mod:`webhook`) and settle
each send's record, whatever order receipts arrive in (:mod:`.correlator`, :mod:`.scripts`)."""
