"""What the simulator pushes back after an accepted send, and how it gets there.

:mod:`.mix` draws each send's outcome; :mod:`.dlr` plans the Vonage delivery
receipts for it and :mod:`.status_callbacks` the Twilio status callbacks, both
as :class:`~.receipt.Receipt` chains; :mod:`.payload` stamps and signs each
push; :mod:`.dispatcher` pushes them with retries and backoff.
"""
