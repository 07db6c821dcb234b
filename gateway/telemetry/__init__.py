"""Metrics and request ids: plain Python, shared by every layer of the gateway."""
