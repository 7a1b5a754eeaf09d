"""Observability: logging now; status, metrics and dumps as they land."""
