"""Plivo's webhook signature, ``X-Plivo-Signature-V3``: HMAC-SHA256 of the URL and parameters with a nonce
(reference §5.3), built as plivo-python's ``signature_v3`` builds it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

from callbridge.telephony.errors import RequestNotVerified
from callbridge.telephony.request import ProviderRequest

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
MAIN_ACCOUNT_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"
CREDENTIAL_HEADERS = (SIGNATURE_HEADER, MAIN_ACCOUNT_SIGNATURE_HEADER, NONCE_HEADER)


def base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """§5.3: what V3 signs before ``.{nonce}``, built as plivo-python's ``signature_v3`` builds it.

    GET: ``scheme://host/path?`` + the URL's query merged with ``params``, sorted as ``k=v&k=v``.
    POST: ``scheme://host/path``, ``?`` if there is a query or parameters, the sorted query, ``.`` if
    there are both, then the parameters sorted as ``keyvalue`` with no separators.
    """
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    query = _grouped(parse_qsl(parts.query, keep_blank_values=True))
    posted = _grouped(params)
    if method.upper() == "GET":
        sorted_query = _sorted_query({**posted, **query})  # the SDK lets the URL's query win
        return f"{base}?{sorted_query}" if sorted_query else base
    sorted_query = _sorted_query(query)
    if sorted_query or posted:
        base += "?" + sorted_query
    if sorted_query and posted:
        base += "."
    return base + "".join(f"{key}{value}" for key in sorted(posted) for value in sorted(posted[key]))


def compute_signature(auth_token: str, base: bytes, nonce: str) -> str:
    """``base64(HMAC-SHA256(auth_token, base + "." + nonce))``."""
    digest = hmac.new(auth_token.encode(), base + b"." + nonce.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature(auth_token: str, request: ProviderRequest) -> str:
    """Any entry of ``X-Plivo-Signature-V3`` or ``-Ma-V3`` (each may be a comma-separated list) matching
    our token verifies. Returns the matching signature (the replay key); RequestNotVerified otherwise."""
    nonce = request.headers.get(NONCE_HEADER)
    if not nonce:
        raise RequestNotVerified(f"missing {NONCE_HEADER} header")
    offered = [
        entry.strip()
        for header in (SIGNATURE_HEADER, MAIN_ACCOUNT_SIGNATURE_HEADER)
        for entry in request.headers.get(header, "").split(",")
        if entry.strip()
    ]
    if not offered:
        raise RequestNotVerified(f"missing {SIGNATURE_HEADER} header")
    text = base_string(request.method, request.url, request.form.pairs)
    expected = {compute_signature(auth_token, candidate, nonce) for candidate in _encodings(text)}
    for signature in offered:
        if any(hmac.compare_digest(signature.encode(), mine.encode()) for mine in expected):
            return signature
    raise RequestNotVerified(f"invalid {SIGNATURE_HEADER}")


def _encodings(text: str) -> set[bytes]:
    """The base string as UTF-8, and as plivo-python signs it: its UTF-8 bytes read as Latin-1 and
    encoded again (``string_format`` on bytes). The two differ only for non-ASCII fields."""
    utf8 = text.encode()
    return {utf8, utf8.decode("latin-1").encode()}


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(value)
    return dict(grouped)


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))
