"""The web dashboard's files: ``GET /`` and ``/dashboard/*``, served from the package (no CDN, no build step).

The page (``static/index.html`` with ``dashboard.js`` and ``dashboard.css``) holds no data and no secret: it
asks the API for everything after the login, so its exact paths (:data:`DASHBOARD_PATHS`) are served without a
credential; any other path, under ``/dashboard/`` too, goes through the auth like the API. Only the files named in
:data:`ASSETS` are served, read once from the package when the app is built (no path from the request ever
reaches the file system). Every answer carries a strict Content-Security-Policy: scripts, styles and
connections from this origin only, no frames.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = [
    "ASSETS",
    "CONTENT_SECURITY_POLICY",
    "DASHBOARD_PATHS",
    "DASHBOARD_PREFIX",
    "add_dashboard_routes",
    "is_dashboard_path",
]

DASHBOARD_PREFIX = "/dashboard/"
"""Where the dashboard's files are served (``/`` redirects to it)."""

ASSETS: dict[str, str] = {
    "index.html": "text/html",
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}
"""The files of ``trading_bot/monitor/static/`` that are served, with their content type."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The dashboard's Content-Security-Policy (no inline script, nothing from another origin)."""


DASHBOARD_PATHS = frozenset(
    {"/", DASHBOARD_PREFIX.rstrip("/"), DASHBOARD_PREFIX} | {DASHBOARD_PREFIX + name for name in ASSETS}
)
"""The exact paths served without a credential (any other path, under ``/dashboard/`` too, needs one)."""


def is_dashboard_path(path: str) -> bool:
    """Return True for the dashboard's own paths (an exact match: no prefix, so no ``..`` trick gets past)."""
    return path in DASHBOARD_PATHS


def _load() -> dict[str, bytes]:
    folder = resources.files("trading_bot.monitor") / "static"
    return {name: (folder / name).read_bytes() for name in ASSETS}


def add_dashboard_routes(app: web.Application) -> None:
    """Add ``GET /`` (a redirect), ``/dashboard/`` (the page) and ``/dashboard/<asset>`` to ``app``."""
    files = _load()

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(DASHBOARD_PREFIX)

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("asset") or "index.html"
        body = files.get(name)
        if body is None:
            raise web.HTTPNotFound(text="not found")
        response = web.Response(body=body, content_type=ASSETS[name], charset="utf-8")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    app.router.add_get("/", redirect)
    app.router.add_get(DASHBOARD_PREFIX.rstrip("/"), redirect)
    app.router.add_get(DASHBOARD_PREFIX, asset)
    app.router.add_get(DASHBOARD_PREFIX + "{asset}", asset)
