"""Trace-structure rules that live in dashboard.analyses.sync_coupling, for the engine to find.

LONG_SYNC_CHAIN comes from dashboard.analyses.call_chains and CONSUMER_LAG from
dashboard.analyses.burrow, which the engine calls by name.
"""

from __future__ import annotations

from dashboard.analyses.sync_coupling import findings

__all__ = ["findings"]
