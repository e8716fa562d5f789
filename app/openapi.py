"""Every operation's error answers in the OpenAPI document, all with the one error model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.errors import ErrorOut

_DESCRIPTIONS = {
    "400": "malformed request (not JSON, a NUL character, a bad header)",
    "401": "missing or unknown credentials",
    "403": "the credentials do not allow this",
    "404": "no such resource",
    "409": "conflicts with the current state",
    "413": "body or batch too large",
    "422": "the request is not valid; `details` says where and why",
    "500": "unexpected error; the answer carries the request id that is in the log",
}
_BODY_METHODS = {"post", "put", "patch", "delete"}
_RESOURCE_FILTERS = {"section", "station", "zone"}


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema


def document_errors(app: FastAPI, body_models: Sequence[type[BaseModel]] = ()) -> None:
    """Wraps app.openapi: each operation lists the errors it can answer, 400/422/500 always,
    401/403 where it has a security scheme, 404 where its path has parameters, 413 where it
    takes a body; FastAPI's own 422 schema is replaced by the error model. `body_models`:
    bodies that routes parse themselves (and reference by name in openapi_extra)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        models: list[type[BaseModel]] = [ErrorOut, *body_models]
        for model in models:
            _add_component(components, model)
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        ref = {"$ref": "#/components/schemas/ErrorOut"}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                codes = {"400", "422", "500"}
                if operation.get("security"):
                    codes |= {"401", "403"}
                filters = {p["name"] for p in operation.get("parameters", [])}
                # A path naming a resource, or a filter naming one, may name none that exists.
                if "{" in path or filters & _RESOURCE_FILTERS:
                    codes.add("404")
                if method in _BODY_METHODS:
                    codes |= {"409", "413"}
                responses = operation.setdefault("responses", {})
                codes |= {code for code in responses if code[0] in "45"}
                for code in sorted(codes):
                    entry = responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
                    entry["content"] = {"application/json": {"schema": ref}}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
