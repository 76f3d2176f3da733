"""REST endpoints of the sales app, a module per area; ``router`` gathers them for ``rapport.api``."""

from ninja import Router

from rapport.sales.api import activities, messaging, orders, pipeline, reports

router = Router()
for area in (orders, pipeline, activities, messaging, reports):
    router.add_router("", area.router)
