"""Web pages for sales reps and analysts, served by the service's own FastAPI app.

`install_web(app)` adds the routes (sign-in, prospect check with what-if, portfolio, customer
card, model card) and the static files; pages are server-rendered Jinja2 templates in French
or English, signed in with an API key kept in an HttpOnly cookie.
"""

from __future__ import annotations

from service.web.routes import install_web

__all__ = ["install_web"]
