"""Request bodies validated by pydantic-core straight from the bytes.

A FastAPI body parameter decodes the JSON, validates the resulting dict and solves the
endpoint's dependencies: on ``/v1/decide`` that machinery cost more than the decision
itself. The hot endpoints read the raw body and validate it in one call instead; the
model still reaches the OpenAPI document through :func:`documented`, and a bad body gets
the same one-line 400/422 as every other endpoint.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

#: Models documented as raw request bodies; ``add_schemas`` puts them in the components.
RAW_BODIES: dict[str, type[BaseModel]] = {}

_REF = "#/components/schemas/{model}"


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the endpoint's JSON request body."""
    RAW_BODIES[model.__name__] = model
    ref = {"$ref": _REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def add_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Adds the raw-body models (and the models they use) to an OpenAPI document."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, model in RAW_BODIES.items():
        schema = model.model_json_schema(ref_template=_REF)
        for sub, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(sub, definition)
        schemas.setdefault(name, schema)
    return openapi


async def parse(request: Request, model: type[M]) -> M:
    """The body as ``model``; invalid JSON or fields raise the app's validation error."""
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
