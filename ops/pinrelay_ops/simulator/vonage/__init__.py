"""The Vonage (Nexmo) side of the simulator: the US short-code 2FA API, the SMS API, conversions.

One concern per module: :mod:`.twofa` and :mod:`.sms` (the two routes),
:mod:`.checks` and :mod:`.sms_checks` (what a submission must satisfy),
:mod:`.responses` (the documented answer shapes), :mod:`.account` (the balance
and message-ids both routes share), :mod:`.conversions` (the Conversion API).
"""
