"""Sales pages, a module per area: orders (products, orders), pipeline (board, opportunities),
activities (tasks, appointments, calendar, calls and notes), messaging (templates, emails, letters),
reports (activity, forecast, pipeline health)."""
