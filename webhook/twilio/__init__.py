"""Twilio status callbacks: their signature (X-Twilio-Signature) and their route into the stream."""
