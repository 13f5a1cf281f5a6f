"""The public surface of ``worker``: exactly these names, each one there.

Adding to the public API (or dropping from it) is a decision: this list changes with it.
"""

from __future__ import annotations

import worker

EXPECTED_ALL = [
    # producer API
    "send_pin", "send_pins", "get_status", "wait", "report_conversion", "Producer", "PinSpec",
    # verify API
    "start_verification", "check_verification", "resend_verification", "get_verification",
    # configuration and states
    "Settings", "State",
    # errors
    "PinrelayError", "ConfigError", "ValidationError", "AbuseLimitError", "UnknownRequestError",
    "StoreUnavailableError", "ProviderError", "TransientProviderError", "PermanentProviderError",
    "UnconfirmedSendError", "VerificationError", "UnknownVerificationError", "ResendRefusedError",
]


def test_worker_all_is_pinned() -> None:
    assert worker.__all__ == EXPECTED_ALL


def test_every_public_name_resolves() -> None:
    """Each lazily resolved name is really there (a typo in the lazy table fails here)."""
    for name in worker.__all__:
        assert getattr(worker, name) is not None, name
