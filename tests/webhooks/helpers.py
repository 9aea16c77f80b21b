"""What the webhooks tests share: the test settings and the API client the ``api`` fixture yields."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

API_KEY = "test-api-key-0123456789"
SECRET_KEY = "test-secret-key-0123456789-0123456789"
MEDIA_PUBLIC_URL = "wss://media.example.test"


@dataclass
class Api:
    client: httpx.AsyncClient
    base_url: str
    public_base_url: str
