"""REST endpoints for contacts and accounts (being built)."""

from ninja import Router

router = Router(tags=["contacts"])
