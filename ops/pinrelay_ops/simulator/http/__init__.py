"""The simulator's HTTP side: the socket server, the route table, request params, the exchange values.

Nothing here knows a provider's rules: :mod:`.server` moves bytes,
:mod:`.routes` maps paths to the simulator's handlers and serves ``/_sim/*``.
"""
