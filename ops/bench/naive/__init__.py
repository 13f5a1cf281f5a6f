"""The naive baselines each benchmark scenario is measured against, one module per scenario.

:mod:`.sends` (a bare Celery task, ``python -m ops.bench.naive.sends``),
:mod:`.receiver` (a one-LPUSH WSGI app, ``ops.bench.naive.receiver:app_factory``),
:mod:`.correlator` (``python -m ops.bench.naive.correlator COUNT``).
"""
