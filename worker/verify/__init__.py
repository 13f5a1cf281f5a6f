"""The verify flow: pinrelay generates, delivers and checks the code, and reports conversions.

One stage on top of the send path (:mod:`worker.enqueue` ... :mod:`worker.records`):

* :mod:`~worker.verify.codes`    generation (``secrets``), HMAC-SHA256, constant-time compare
* :mod:`~worker.verify.store`    the verification record; each change one ``verify_*.lua``
* :mod:`~worker.verify.service`  start / check / resend / get, and the conversions owed
* :mod:`~worker.verify.view`     how a verification is shown (never its code or HMAC)
* :mod:`~worker.verify.tasks`    ``pinrelay.verify_expire``, the expiry sweep; booked by
  :mod:`~worker.verify.schedule`
* :mod:`~worker.verify.metrics`  Prometheus figures; :mod:`~worker.verify.report` the report's
* :mod:`~worker.verify.errors`   its exceptions

The public entry points are :func:`worker.start_verification` and its siblings, and
``pinrelay verify``. Nothing is imported here, so ``import worker.verify.codes`` stays light.
"""
