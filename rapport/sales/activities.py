"""Sales: activities (being written)."""

from __future__ import annotations
