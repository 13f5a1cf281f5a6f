"""The Vonage (Nexmo) side of the simulator: the US short-code 2FA API and the Conversion API.

Each module is one concern: :mod:`.checks` (what a submission must satisfy),
:mod:`.responses` (the documented answer shapes), :mod:`.provider` (the submit
pipeline with faults), :mod:`.conversions`.
"""
