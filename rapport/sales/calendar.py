"""Sales: calendar (being written)."""

from __future__ import annotations
