"""What the simulator pushes back after an accepted send, and how it gets there.

:mod:`.mix` draws each send's outcome, :mod:`.dlr` plans the Vonage delivery
receipts for it, :mod:`.dispatcher` pushes them with retries and backoff.
"""
