"""The `ui` plugin: the admin web UI under /ui, rendered on the server (Jinja2, autoescaped),
with vendored CSS and inline SVG charts -- no script and nothing fetched from elsewhere.

Every page needs a signed-in session whose principal has a role the page allows; every POST
carries the session's CSRF token. See docs/admin-ui.md.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jinja2
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from litegate import Gateway, GatewayError, Principal, hookimpl
from litegate.config_types import Duration
from litegate.state import StateError

from . import charts, data
from . import session as sessions
from .admin_ops import AdminCalls, allowed

__all__ = ["UIPlugin"]

log = logging.getLogger("litegate.ui")

HERE = Path(__file__).parent
ALL_ROLES = frozenset({"admin", "org_admin", "team_admin", "member", "viewer"})
#: Roles that may read spend reports (scoped by `plugins.spend.report_scope`).
SPEND_ROLES = frozenset({"admin", "org_admin", "team_admin", "viewer"})
#: Roles that may read the running config (as ``GET /admin/v1/config``) and reload it.
CONFIG_ROLES = frozenset({"admin", "viewer"})
#: Who sees the organizations page: those whose scope can hold more than one team.
ORG_ROLES = frozenset({"admin", "org_admin", "viewer"})
RELOAD_ROLES = frozenset({"admin"})
#: The most bytes a form may have.
MAX_FORM = 64 * 1024

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

#: (path, title, roles) of the navigation, in order.
NAV = (
    ("/ui/overview", "Overview", ALL_ROLES),
    ("/ui/spend", "Spend", SPEND_ROLES),
    ("/ui/keys", "Keys", ALL_ROLES),
    ("/ui/orgs", "Organizations", ORG_ROLES),
    ("/ui/teams", "Teams", ALL_ROLES),
    ("/ui/users", "Users", ALL_ROLES),
    ("/ui/models", "Models", ALL_ROLES),
    ("/ui/requests", "Request log", ALL_ROLES),
    ("/ui/config", "Config", CONFIG_ROLES),
)


LOG_PAGES = ("/ui/overview", "/ui/requests")


def reads_log(principal: Principal) -> bool:
    """Whether the request log (overview, request log) can be narrowed to what `principal`
    may see: everything, or one team's calls."""
    from litegate.plugins.admin.rbac import Scope

    scope = Scope.of(principal)
    return scope.level == "all" or (scope.level == "team" and bool(scope.id))


def landing(principal: Principal) -> str:
    return "/ui/overview" if reads_log(principal) else "/ui/keys"


@attrs.frozen
class Page:
    """What a page handler gets: the request, the signed-in session, the form of a POST."""

    request: Request
    session: sessions.Session
    form: FormData | None

    @property
    def principal(self) -> Principal:
        return self.session.principal

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""


PageHandler = Callable[[Page], Awaitable[Response]]


class UIPlugin:
    """The admin web UI at /ui; see docs/admin-ui.md."""

    @attrs.frozen
    class Config:
        #: How long a sign-in lasts.
        session_ttl: Duration = Duration(8 * 3600)
        #: Mark the session cookie Secure: "auto" (when the request came over https),
        #: "always" or "never".
        secure_cookie: str = attrs.field(
            default="auto", validator=attrs.validators.in_(("auto", "always", "never"))
        )
        #: Rows per page in the key, team, user and request lists.
        page_size: int = attrs.field(default=50, validator=attrs.validators.in_(range(1, 501)))

    def __init__(self, config: Config) -> None:
        self.config = config
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every page, whatever its file name
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["money"] = _money
        self.templates.filters["ms"] = _ms
        self.templates.filters["when"] = _when
        self.css = (HERE / "static" / "ui.css").read_bytes()

    @hookimpl
    async def startup(self, gateway: Gateway) -> None:
        await gateway.open_db()

    # -- plumbing ----------------------------------------------------------------------

    def render(
        self, template: str, page: Page | None, status: int = 200, **context: Any
    ) -> Response:
        principal = page.principal if page is not None else None
        nav = [
            (path, title)
            for path, title, roles in NAV
            if principal is not None
            and principal.role in roles
            and (path not in LOG_PAGES or reads_log(principal))
        ]
        html = self.templates.get_template(template).render(
            principal=principal,
            csrf=page.session.csrf if page is not None else "",
            nav=nav,
            home=landing(principal) if principal is not None else "/ui/login",
            path=page.request.url.path if page is not None else "",
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def _secure(self, request: Request) -> bool:
        if self.config.secure_cookie == "auto":
            return request.url.scheme == "https"
        return self.config.secure_cookie == "always"

    def _cookie(
        self, response: Response, request: Request, name: str, value: str, age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=age,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=self._secure(request),
        )

    def page(self, gateway: Gateway, handler: PageHandler, roles: Collection[str]) -> Any:
        """A Starlette endpoint: the signed-in session (else to the sign-in page), its role
        (else 403), the CSRF token of a POST (else 403), then `handler`."""

        async def endpoint(request: Request) -> Response:
            try:
                state = await gateway.open_state()
                session = await sessions.load(state, request.cookies.get(sessions.COOKIE))
            except StateError:
                return self.render("error.html", None, 503, message="Sessions are unavailable.")
            if session is not None and not await _still_usable(gateway, session.principal):
                await sessions.delete(state, request.cookies.get(sessions.COOKIE))
                session = None
            if session is None:
                if request.method == "GET":
                    return RedirectResponse("/ui/login", 303, headers=SECURITY_HEADERS)
                return self.render("error.html", None, 401, message="Please sign in again.")
            page = Page(request, session, None)
            if session.principal.role not in roles:
                return self.render(
                    "error.html", page, 403, message="Your role may not open this page."
                )
            if request.method == "POST":
                form = await _form(request)
                if form is None:
                    return self.render(
                        "error.html", page, 400, message="The form is too big or unreadable."
                    )
                if not sessions.same(_text(form.get("csrf")), session.csrf):
                    return self.render(
                        "error.html",
                        page,
                        403,
                        message="The form's CSRF token is wrong or missing.",
                    )
                page = Page(request, session, form)
            try:
                return await handler(page)
            except GatewayError as error:
                return self.render("error.html", page, error.status, message=error.message)

        endpoint.__name__ = handler.__name__
        return endpoint

    # -- routes ------------------------------------------------------------------------

    @hookimpl
    def routes(self, gateway: Gateway) -> Sequence[BaseRoute]:
        views = Views(self, gateway)
        page = self.page

        def get(path: str, handler: PageHandler, roles: Collection[str] = ALL_ROLES) -> Route:
            return Route(path, page(gateway, handler, roles), methods=["GET"])

        def post(path: str, handler: PageHandler, roles: Collection[str] = ALL_ROLES) -> Route:
            return Route(path, page(gateway, handler, roles), methods=["POST"])

        return [
            Route("/ui", views.home, methods=["GET"]),
            Route("/ui/", views.home, methods=["GET"]),
            Route("/ui/static/ui.css", views.css, methods=["GET"]),
            Route("/ui/login", views.login_form, methods=["GET"]),
            Route("/ui/login", views.login, methods=["POST"]),
            post("/ui/logout", views.logout),
            get("/ui/overview", views.overview),
            get("/ui/spend", views.spend, SPEND_ROLES),
            get("/ui/spend.csv", views.spend_csv, SPEND_ROLES),
            get("/ui/keys", views.keys),
            post("/ui/keys", views.create_key),
            get("/ui/keys/{key_id}", views.edit_key),
            post("/ui/keys/{key_id}", views.update_key),
            post("/ui/keys/{key_id}/revoke", views.revoke_key),
            post("/ui/keys/{key_id}/rotate", views.rotate_key),
            get("/ui/orgs", views.orgs, ORG_ROLES),
            post("/ui/orgs", views.create_org, ORG_ROLES),
            get("/ui/teams", views.teams),
            post("/ui/teams", views.create_team),
            get("/ui/users", views.users),
            post("/ui/users", views.create_user),
            get("/ui/models", views.models),
            get("/ui/requests", views.requests),
            get("/ui/config", views.config, CONFIG_ROLES),
            post("/ui/config/reload", views.reload, RELOAD_ROLES),
        ]


class Views:
    def __init__(self, plugin: UIPlugin, gateway: Gateway) -> None:
        self.plugin = plugin
        self.gateway = gateway
        self.render = plugin.render
        self.admin = AdminCalls(gateway, plugin.config.page_size)

    # -- sign-in -----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/ui/overview", 303, headers=SECURITY_HEADERS)

    async def css(self, request: Request) -> Response:
        return Response(
            self.plugin.css, media_type="text/css", headers={"cache-control": "max-age=3600"}
        )

    async def login_form(self, request: Request, error: str = "", status: int = 200) -> Response:
        token = secrets.token_urlsafe(32)
        response = self.render("login.html", None, status, login_csrf=token, error=error)
        self.plugin._cookie(response, request, sessions.LOGIN_COOKIE, token, 900)
        return response

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        if form is None or not sessions.same(
            _text(form.get("csrf")), request.cookies.get(sessions.LOGIN_COOKIE)
        ):
            return await self.login_form(request, "The form expired; please try again.", 403)
        credential = _text(form.get("credential")).strip()
        principal = None
        if credential and len(credential) <= 8192 and credential.isprintable():
            try:
                principal = await self.gateway.authenticate(
                    {"authorization": f"Bearer {credential}"}
                )
            except GatewayError:
                principal = None
        if principal is None:
            return await self.login_form(request, "That key or token was not accepted.", 401)
        if principal.role not in ALL_ROLES:
            return await self.login_form(request, "That credential has no role for the UI.", 403)
        state = await self.gateway.open_state()
        session_id, _session = await sessions.create(
            state, principal, float(self.plugin.config.session_ttl)
        )
        log.info("ui sign-in: %s (%s)", principal.id, principal.role)
        response = RedirectResponse(landing(principal), 303, headers=SECURITY_HEADERS)
        self.plugin._cookie(
            response,
            request,
            sessions.COOKIE,
            session_id,
            int(float(self.plugin.config.session_ttl)),
        )
        response.delete_cookie(sessions.LOGIN_COOKIE, path="/ui")
        return response

    async def logout(self, page: Page) -> Response:
        state = await self.gateway.open_state()
        await sessions.delete(state, page.request.cookies.get(sessions.COOKIE))
        response = RedirectResponse("/ui/login", 303, headers=SECURITY_HEADERS)
        response.delete_cookie(sessions.COOKIE, path="/ui")
        return response

    # -- overview and request log ------------------------------------------------------

    @staticmethod
    def log_team(principal: Principal) -> str | None:
        """Whose calls a principal may see in the request log: everyone's (None) or one
        team's; 403 for a scope the log can't narrow to (org, user)."""
        from litegate.plugins.admin.rbac import Scope

        scope = Scope.of(principal)
        if scope.level == "all":
            return None
        if scope.level == "team" and scope.id:
            return scope.id
        raise GatewayError(403, "The request log is shown to admins, viewers and team admins.")

    async def overview(self, page: Page) -> Response:
        team = self.log_team(page.principal)
        range_name = page.request.query_params.get("range", "24h")
        if range_name not in data.RANGES:
            range_name = "24h"
        view = await data.overview(self.gateway, range_name, team)
        labels = view.labels
        figures = [
            (
                "Requests: ok and failed",
                charts.bar_chart(
                    "Requests (ok and failed)",
                    labels,
                    [("ok", view.requests), ("err", view.errors)],
                ),
            ),
            (
                "Latency p50 / p95 (ms)",
                charts.line_chart(
                    "Latency p50 / p95 (ms)", labels, [("p50", view.p50), ("p95", view.p95)]
                ),
            ),
            ("Spend (USD)", charts.bar_chart("Spend (USD)", labels, [("cost", view.cost)])),
            (
                "Cache hit rate (%)",
                charts.line_chart("Cache hit rate (%)", labels, [("hits", view.hit_rate)]),
            ),
        ]
        return self.render(
            "overview.html",
            page,
            view=view,
            figures=figures,
            range_name=range_name,
            ranges=list(data.RANGES),
        )

    async def requests(self, page: Page) -> Response:
        from litegate.db.queries.requestlog import list_requests

        team = self.log_team(page.principal)
        params = page.request.query_params
        filters = {
            name: params.get(name, "").strip()[:255]
            for name in ("model", "status", "key", "since", "until")
        }
        query: dict[str, Any] = {"team_id": team, "limit": self.plugin.config.page_size}
        if filters["model"]:
            query["model"] = filters["model"]
        if filters["key"]:
            query["key_id"] = filters["key"]
        status = filters["status"]
        if status:
            if len(status) == 3 and status.endswith("xx") and status[0].isdigit():
                query["status_class"] = int(status[0])
            elif status.isdigit() and len(status) == 3:
                query["status"] = int(status)
            else:
                raise GatewayError(400, "Status: a code like 429 or a class like 5xx.")
        for name in ("since", "until"):
            if filters[name]:
                query[name] = _datetime(filters[name], name)
        cursor = params.get("cursor") or None
        async with (await self.gateway.open_db()).session() as session:
            try:
                result = await list_requests(session, cursor=cursor, **query)
            except ValueError:
                raise GatewayError(400, "That page link is no longer valid.") from None
        return self.render(
            "requests.html",
            page,
            rows=result.items,
            next_cursor=result.next_cursor,
            filters=filters,
        )

    # -- spend -------------------------------------------------------------------------

    async def _spend_totals(self, page: Page) -> dict[str, Any]:
        from litegate.db.queries.spend import sum_spend
        from litegate.plugins.spend import report_scope

        params = page.request.query_params
        by = params.get("by", "model")
        if by not in ("key", "team", "model"):
            by = "model"
        today = datetime.now(UTC).date()
        end = _date(params.get("end"), today, "end")
        start = _date(params.get("start"), end - timedelta(days=29), "start")
        if start > end:
            raise GatewayError(400, "The start date is after the end date.")
        scoped = report_scope(page.principal)
        filters = {
            "key_id": None,
            "user_id": None,
            "team_id": scoped.get("team"),
            "org_id": scoped.get("org"),
        }
        async with (await self.gateway.open_db()).session() as session:
            totals = await sum_spend(session, by=[by], start=start, end=end, **filters)
            days = await sum_spend(session, by=["day"], start=start, end=end, **filters)
        return {"by": by, "start": start, "end": end, "totals": totals, "days": days}

    async def spend(self, page: Page) -> Response:
        report = await self._spend_totals(page)
        by_day = {total.group["day"]: float(total.cost) for total in report["days"]}
        span = (report["end"] - report["start"]).days + 1
        dates = [report["start"] + timedelta(days=i) for i in range(span)][-92:]
        chart = charts.bar_chart(
            "Spend per day (USD)",
            [d.strftime("%m-%d") for d in dates],
            [("cost", [by_day.get(d, 0.0) for d in dates])],
            width=1160,
        )
        total = sum((t.cost for t in report["totals"]), Decimal(0))
        requests = sum(t.requests for t in report["totals"])
        return self.render(
            "spend.html", page, chart=chart, total=total, requests=requests, **report
        )

    async def spend_csv(self, page: Page) -> Response:
        from litegate.db.queries.spend import report_csv

        report = await self._spend_totals(page)
        name = f"spend-{report['by']}-{report['start']}-{report['end']}.csv"
        return Response(
            report_csv(report["totals"], [report["by"]]),
            media_type="text/csv",
            headers={**SECURITY_HEADERS, "content-disposition": f'attachment; filename="{name}"'},
        )

    # -- keys --------------------------------------------------------------------------

    async def keys(self, page: Page, error: str = "", status: int = 200) -> Response:
        cursor = page.request.query_params.get("cursor") or ""
        query = {"limit": str(self.plugin.config.page_size)}
        if cursor:
            query["cursor"] = cursor[:512]
        listing = await self.admin("list_keys", page.principal, query=query)
        teams = await self._teams(page.principal)
        return self.render(
            "keys.html",
            page,
            status,
            keys=listing["data"],
            next_cursor=listing["next_cursor"],
            teams=teams,
            team_names={team["id"]: team["name"] for team in teams},
            error=error,
            can_create=allowed(page.principal, "create_key"),
            can_revoke=allowed(page.principal, "revoke_key"),
        )

    async def _teams(self, principal: Principal) -> list[dict[str, Any]]:
        try:
            listing = await self.admin("list_teams", principal, query={"limit": "1000"})
        except GatewayError:
            return []
        return list(listing["data"])

    async def _team_name(self, principal: Principal, team_id: str | None) -> str | None:
        """The team's name, or None when there is none or the viewer may not read it (the
        page then shows the id)."""
        if not team_id:
            return None
        try:
            team = await self.admin("get_team", principal, path={"team_id": team_id})
        except GatewayError:
            return None
        return str(team["name"])

    async def create_key(self, page: Page) -> Response:
        body = _grants(page)
        for name in ("name", "team_id", "user_id"):
            if page.field(name):
                body[name] = page.field(name)
        try:
            created = await self.admin("create_key", page.principal, body)
        except GatewayError as error:
            return await self.keys(page, error.message, error.status)
        secret = created.pop("key")
        return self.render("key_created.html", page, 201, key=created, secret=secret, rotated=False)

    async def edit_key(self, page: Page, error: str = "", status: int = 200) -> Response:
        key_id = str(page.request.path_params["key_id"])
        key = await self.admin("get_key", page.principal, path={"key_id": key_id})
        return self.render(
            "key_edit.html",
            page,
            status,
            key=key,
            team_name=await self._team_name(page.principal, key.get("team_id")),
            error=error,
            can_edit=allowed(page.principal, "update_key"),
            can_rotate=allowed(page.principal, "rotate_key"),
        )

    async def update_key(self, page: Page) -> Response:
        key_id = str(page.request.path_params["key_id"])
        body = _grants(page, clear=True)
        try:
            await self.admin("update_key", page.principal, body, path={"key_id": key_id})
        except GatewayError as error:
            if error.status == 404:
                raise
            return await self.edit_key(page, error.message, error.status)
        return RedirectResponse("/ui/keys", 303, headers=SECURITY_HEADERS)

    async def rotate_key(self, page: Page) -> Response:
        """A new secret for the key; the old one keeps working for the grace period chosen
        (so clients can move over), then stops."""
        key_id = str(page.request.path_params["key_id"])
        body = {"grace_period": page.field("grace_period")} if page.field("grace_period") else {}
        try:
            rotated = await self.admin("rotate_key", page.principal, body, path={"key_id": key_id})
        except GatewayError as error:
            if error.status == 404:
                raise
            return await self.edit_key(page, error.message, error.status)
        secret = rotated.pop("key")
        return self.render("key_created.html", page, 201, key=rotated, secret=secret, rotated=True)

    async def revoke_key(self, page: Page) -> Response:
        key_id = str(page.request.path_params["key_id"])
        await self.admin("revoke_key", page.principal, path={"key_id": key_id})
        return RedirectResponse("/ui/keys", 303, headers=SECURITY_HEADERS)

    # -- teams and users ---------------------------------------------------------------

    async def orgs(self, page: Page, error: str = "", status: int = 200) -> Response:
        return self.render(
            "orgs.html",
            page,
            status,
            orgs=await self._orgs(page),
            error=error,
            can_create=allowed(page.principal, "create_org"),
        )

    async def create_org(self, page: Page) -> Response:
        body: dict[str, Any] = {"name": page.field("name")}
        if page.field("max_budget"):
            body["max_budget"] = page.field("max_budget")
        if page.field("budget_period"):
            body["budget_period"] = page.field("budget_period")
        try:
            await self.admin("create_org", page.principal, body)
        except GatewayError as error:
            return await self.orgs(page, error.message, error.status)
        return RedirectResponse("/ui/orgs", 303, headers=SECURITY_HEADERS)

    async def _orgs(self, page: Page) -> list[dict[str, Any]]:
        listing = await self.admin(
            "list_orgs", page.principal, query={"limit": str(self.plugin.config.page_size)}
        )
        return list(listing["data"])

    async def teams(self, page: Page, error: str = "", status: int = 200) -> Response:
        orgs = await self._orgs(page)
        listing = await self.admin(
            "list_teams", page.principal, query={"limit": str(self.plugin.config.page_size)}
        )
        return self.render(
            "teams.html",
            page,
            status,
            teams=listing["data"],
            orgs=orgs,
            org_names={org["id"]: org["name"] for org in orgs},
            error=error,
            can_create=allowed(page.principal, "create_team"),
        )

    async def create_team(self, page: Page) -> Response:
        body = _grants(page)
        body["name"] = page.field("name")
        if page.field("org_id"):
            body["org_id"] = page.field("org_id")
        try:
            await self.admin("create_team", page.principal, body)
        except GatewayError as error:
            return await self.teams(page, error.message, error.status)
        return RedirectResponse("/ui/teams", 303, headers=SECURITY_HEADERS)

    async def users(self, page: Page, error: str = "", status: int = 200) -> Response:
        listing = await self.admin(
            "list_users", page.principal, query={"limit": str(self.plugin.config.page_size)}
        )
        teams = await self._teams(page.principal)
        return self.render(
            "users.html",
            page,
            status,
            users=listing["data"],
            teams=teams,
            team_names={team["id"]: team["name"] for team in teams},
            error=error,
            can_create=allowed(page.principal, "create_user"),
        )

    async def create_user(self, page: Page) -> Response:
        body: dict[str, Any] = {}
        for name in ("email", "name", "team_id", "role"):
            if page.field(name):
                body[name] = page.field(name)
        try:
            await self.admin("create_user", page.principal, body)
        except GatewayError as error:
            return await self.users(page, error.message, error.status)
        return RedirectResponse("/ui/users", 303, headers=SECURITY_HEADERS)

    # -- models and config -------------------------------------------------------------

    async def models(self, page: Page) -> Response:
        rows = await data.deployment_states(self.gateway)
        routed = any(row["state"] is not None for row in rows)
        return self.render("models.html", page, deployments=rows, routed=routed)

    async def config(self, page: Page, message: str = "", status: int = 200) -> Response:
        if not message and page.request.query_params.get("reloaded") == "1":
            message = "Reloaded: the new config is serving."
        reload_status, text, can_reload = data.running_config(self.gateway)
        return self.render(
            "config.html",
            page,
            status,
            text=text,
            reload_status=reload_status,
            can_reload=can_reload and page.principal.role in RELOAD_ROLES,
            message=message,
        )

    async def reload(self, page: Page) -> Response:
        from litegate.reload import reloader_for

        app = reloader_for(self.gateway)
        if app is None:
            raise GatewayError(409, "Hot reload is off ([server] reload); restart to reload.")
        log.info("config reload requested through the UI by %s", page.principal.id)
        if await app.reload_and_announce("admin UI"):
            # The new generation (its own UI plugin) answers from here on.
            return RedirectResponse("/ui/config?reloaded=1", 303, headers=SECURITY_HEADERS)
        error = (app.last_error or {}).get("message", "")
        return await self.config(
            page, "The new config was rejected; the old one keeps serving.\n" + error, 422
        )


# -- helpers -------------------------------------------------------------------------------


async def _form(request: Request) -> FormData | None:
    """The posted form; None when too big or not a form."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM):
        return None
    try:
        return await request.form(max_files=0, max_fields=100)
    except Exception:  # malformed multipart, a file, too many fields
        return None


async def _still_usable(gateway: Gateway, principal: Principal) -> bool:
    """A session signed in with a virtual key ends when the key is revoked, disabled or
    expires (other credentials are not kept in the records database)."""
    if principal.kind != "virtual":
        return True
    from litegate.db import queries

    async with (await gateway.open_db()).session() as session:
        key = await queries.get_key(session, principal.id)
    return key is not None and key.usable_at(datetime.now(UTC))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _grants(page: Page, *, clear: bool = False) -> dict[str, Any]:
    """A key's or team's models, limits and budget from the form: empty fields are left
    out (`clear`: sent as null, which lifts the limit)."""
    body: dict[str, Any] = {}
    for name in ("rpm_limit", "tpm_limit", "max_parallel"):
        value = page.field(name)
        if value:
            if not value.isdigit() or len(value) > 10:
                raise GatewayError(400, f"{name}: a whole number, please.")
            body[name] = int(value)
        elif clear:
            body[name] = None
    budget = page.field("max_budget")
    if budget:
        body["max_budget"] = budget
    elif clear:
        body["max_budget"] = None
    models = page.field("allowed_models")
    if models:
        body["allowed_models"] = [m.strip() for m in models.split(",") if m.strip()]
    return body


def _date(text: str | None, default: date, name: str) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise GatewayError(400, f"{name}: a date like 2026-01-31, please.") from None


def _datetime(text: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GatewayError(400, f"{name}: a time like 2026-01-31T12:00, please.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _money(value: Any) -> str:
    if value is None:
        return "\u2013"
    amount = Decimal(str(value))
    return f"${amount:,.4f}" if amount < 1 else f"${amount:,.2f}"


def _ms(value: Any) -> str:
    return "\u2013" if value is None else f"{float(value):,.0f} ms"


def _when(value: Any) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))
