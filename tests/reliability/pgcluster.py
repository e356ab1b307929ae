"""The private PostgreSQL cluster lives in ``bench.pgcluster`` (the API load bench uses it too)."""

from __future__ import annotations

from bench.pgcluster import ClusterUnavailable, PrivatePostgres, free_port

__all__ = ["ClusterUnavailable", "PrivatePostgres", "free_port"]
