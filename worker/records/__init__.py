"""Stage 6, records: the send records in Redis (:mod:`.store`, its atomic steps in
:mod:`.scripts`), how a record is shown (:mod:`.view`) and the dead letters."""
