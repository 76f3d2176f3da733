"""Sales: queries (being written)."""

from __future__ import annotations
