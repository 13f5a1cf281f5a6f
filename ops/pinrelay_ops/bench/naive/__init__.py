"""The naive baselines each benchmark scenario is measured against, one module per scenario.

:mod:`.sends` (a bare Celery task, ``python -m pinrelay_ops.bench.naive.sends``),
:mod:`.receiver` (a one-LPUSH WSGI app, ``pinrelay_ops.bench.naive.receiver:app_factory``),
:mod:`.correlator` (``python -m pinrelay_ops.bench.naive.correlator COUNT``).
"""
