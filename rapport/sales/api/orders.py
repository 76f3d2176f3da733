"""REST endpoints: orders."""

from ninja import Router

router = Router(tags=["orders"])
