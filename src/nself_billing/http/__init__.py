"""The HTTP service: ``create_app(billing)`` builds the ASGI app that ``serve`` runs."""

from .app import create_app

__all__ = ["create_app"]
