"""The OpenAPI document as the service answers, which the routes alone do not tell FastAPI: error
bodies under the media type they are sent as (`app.api.problems`), and the API key that
ApiKeyMiddleware checks before routing (`app.api.auth`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from app.api.auth import document_api_key
from app.api.problems import file_under_problem_json


class DocumentedAPI(FastAPI):
    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:  # FastAPI builds the document once and keeps it
            return self.openapi_schema
        document = super().openapi()
        file_under_problem_json(document)
        document_api_key(document)
        return document
