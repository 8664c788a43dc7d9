"""The HTTP JSON API (``/api/v1``, OpenAPI at ``/openapi.json``, docs at ``/docs``)."""

from oligotrial.api.app import create_app

__all__ = ["create_app"]
