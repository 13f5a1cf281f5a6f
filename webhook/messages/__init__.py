"""Vonage Messages API status webhooks and their HS256 JWTs (``status.py``)."""
