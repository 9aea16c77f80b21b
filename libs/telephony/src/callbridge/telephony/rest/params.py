"""A dial's ``additionalParams``: told apart from the parameters callbridge sets itself, whatever their
spelling (``statusCallback``, ``StatusCallback``, ``status_callback`` and Exotel's lower-case
``statuscallback`` are one parameter), and checked before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from callbridge.common.models.medium import Provider
from callbridge.telephony.errors import InvalidDialRequest

MAX_PARAMS = 64
MAX_VALUE_CHARS = 4000


def param_key(name: str) -> str:
    """The spelling-free form of a parameter name: lower case, without ``_``, ``-`` and ``[]``."""
    return name.lower().replace("_", "").replace("-", "").replace("[]", "")


def check_additional_params(
    provider: Provider, additional: Mapping[str, Any], reserved: Iterable[str]
) -> None:
    """``InvalidDialRequest`` if ``additional`` repeats a parameter of ``reserved`` (callbridge's own, in
    any spelling) or carries more than a create-call request should."""
    name = provider.value.capitalize()
    if len(additional) > MAX_PARAMS:
        raise InvalidDialRequest(
            provider, f"additionalParams has {len(additional)} fields, at most {MAX_PARAMS}"
        )
    own = {param_key(key): key for key in reserved}
    clashes = sorted(key for key in additional if param_key(key) in own)
    if clashes:
        names = ", ".join(f"{key!r} ({own[param_key(key)]})" for key in clashes)
        raise InvalidDialRequest(
            provider,
            f"additionalParams may not set {names}: callbridge sets it on every {name} call it places",
        )


def form_value(provider: Provider, name: str, value: object) -> list[str]:
    """A form parameter's values as the API takes them: a string, number or boolean (``true``/``false``),
    or a list of them (a repeated parameter); anything else is refused."""
    values = value if isinstance(value, list) else [value]
    texts: list[str] = []
    for item in values:
        if isinstance(item, bool):
            texts.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            texts.append(str(item))
        else:
            raise InvalidDialRequest(
                provider,
                f"additionalParams.{name} must be a string, number, boolean or a list of them",
            )
    if any(len(text) > MAX_VALUE_CHARS for text in texts):
        raise InvalidDialRequest(
            provider, f"additionalParams.{name} is longer than {MAX_VALUE_CHARS} characters"
        )
    return texts
