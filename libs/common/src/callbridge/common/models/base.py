"""The base model of every API contract: camelCase aliases on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A request or response body. Unknown fields are refused so that typos get a clear 422.

    A field's docstring is its description in the OpenAPI document (``/docs``).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        serialize_by_alias=True,
        use_attribute_docstrings=True,
    )


class StoredModel(ApiModel):
    """A record kept in KV. Unknown fields are ignored so that older replicas can read newer records."""

    model_config = ConfigDict(extra="ignore")
