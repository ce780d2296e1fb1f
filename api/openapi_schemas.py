"""Request bodies documented by hand (endpoints that read JSON or multipart themselves) in a valid OpenAPI
document: a pydantic model's schema refers to its nested models in `components/schemas`, where `add_to` puts
them, instead of in a local `$defs` that an OpenAPI document cannot resolve."""

from __future__ import annotations

from pydantic import BaseModel

REF_TEMPLATE = "#/components/schemas/{model}"
_NESTED: dict[str, dict] = {}


def body_schema(model: type[BaseModel]) -> dict:
    """The JSON schema of `model` for an operation's requestBody; its nested models are kept for `add_to`."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    _NESTED.update(schema.pop("$defs", {}))
    return schema


def add_to(document: dict) -> dict:
    """Put the nested models of every hand-documented body into the document's components."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _NESTED.items():
        schemas.setdefault(name, schema)
    return document
