"""Kept for compatibility: ``nself_billing.api_stripe`` of earlier versions.

The functions moved to ``nself_billing.api.stripe`` (issue 18: ``api/`` is a package
beside ``cli/`` and ``http/``); this module re-exports the same public names, so imports
from the old path keep working. New code imports from ``nself_billing``.
"""

from __future__ import annotations

from .api.stripe import *  # noqa: F403
from .api.stripe import __all__ as __all__
