"""Pydantic models of callbridge's public API (camelCase on the wire, following Ultravox)."""
