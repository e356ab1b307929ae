"""The API fixtures of tests/web (an app on the test database, two organisations)."""

from __future__ import annotations

from tests.web.conftest import client, orgs

__all__ = ["client", "orgs"]
