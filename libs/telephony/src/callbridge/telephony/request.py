"""A provider's HTTP request as verification and parsing need it, free of any web framework.

The webhooks service builds one from each request it receives (reading the body once, within its limits);
every provider module reads only this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


class Headers(Mapping[str, str]):
    """HTTP headers, looked up case-insensitively (``headers["x-twilio-signature"]``). A repeated header
    keeps its first value, as Starlette's ``Headers.get`` does."""

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        items = pairs.items() if isinstance(pairs, Mapping) else pairs
        values: dict[str, str] = {}
        for name, value in items:
            values.setdefault(name.lower(), value)
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._values)})"  # names only: values may be credentials


class Fields(Mapping[str, str]):
    """Form or query fields in the order sent, a name possibly repeated. As a mapping, a name gives its
    last value; ``getlist`` gives all (what signature schemes sign)."""

    __slots__ = ("_last", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple(pairs)
        self._last = dict(self._pairs)

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name`` (the Twilio SDK's validator reads repeated fields through this)."""
        return [value for key, value in self._pairs if key == name]

    def __getitem__(self, name: str) -> str:
        return self._last[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def __repr__(self) -> str:
        return f"Fields({list(self._last)})"


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    method: str
    url: str
    """Public base URL + path + query: what the provider was configured with and signed."""
    headers: Headers
    body: bytes
    """The raw body (Telnyx signs these bytes)."""
    form: Fields = field(default_factory=Fields)
    """The form-encoded POST parameters (empty for GET): what Twilio and Plivo sign beside the URL."""
    fields: Fields = field(default_factory=Fields)
    """What the request says: the POST form, or the query parameters of a GET."""
    json: Mapping[str, Any] | None = None
    """A JSON object body (Telnyx Call Control webhooks)."""
    path_secret: str | None = None
    """A secret taken from the URL path (Exotel's ``/telephony_xml/{webhookSecret}``)."""

    def field(self, *names: str) -> str | None:
        """The first of ``names`` that the request carries with a non-empty value."""
        for name in names:
            value = self.fields.get(name)
            if value:
                return value
        return None

    def flat_fields(self) -> dict[str, str]:
        """The fields as a plain mapping (the last value of a repeated field wins)."""
        return dict(self.fields)
