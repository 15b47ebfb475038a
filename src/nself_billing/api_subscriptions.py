"""Kept for compatibility: ``nself_billing.api_subscriptions`` of earlier versions.

The functions moved to ``nself_billing.api.subscriptions`` (issue 18: ``api/`` is a package
beside ``cli/`` and ``http/``); this module re-exports the same public names, so imports
from the old path keep working. New code imports from ``nself_billing``.
"""

from __future__ import annotations

from .api.subscriptions import *  # noqa: F403
from .api.subscriptions import __all__ as __all__
