"""Automatic search under a budget: an Optuna study over pruning structure x format x export x runtime, resumable,
with workers on one storage (a journal file in the run directory, or PostgreSQL across machines).

Example:
    >>> from netslim.search import Budget, SearchConfig
    >>> config = SearchConfig(budget=Budget(max_drop=0.005, max_latency_ms=2.0, latency_batch=1, trials=20))
    >>> config.budget.accuracy_floor(0.99)
    0.985
"""

from netslim.search.config import Budget, SearchConfig, parse_bytes, parse_duration, parse_latency
from netslim.search.run import SearchResult, fingerprint, join, search
from netslim.search.space import Plan, Space, build_space

__all__ = [
    "Budget",
    "Plan",
    "SearchConfig",
    "SearchResult",
    "Space",
    "build_space",
    "fingerprint",
    "join",
    "parse_bytes",
    "parse_duration",
    "parse_latency",
    "search",
]
