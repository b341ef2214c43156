"""Dashboard layer: access control of one web process. With auth on (TASKLENS_AUTH; config.py) every API
call names a token (`Authorization: Bearer …`) and every page, CSV download, report file and websocket needs a
signed-in session (/login: paste a token) or a bearer token; roles are viewer < operator < admin (db/access/tokens.py).
Also here, for every response whatever the mode: the security headers and the request size limit."""

from __future__ import annotations

import html
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask, Response, current_app, has_request_context, redirect, request, session
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest

from config import Settings
from dashboard.bodylimit import BoundedRequest
from dashboard.ratelimit import RateLimiter
from dashboard.services import Services
from dashboard.throttle import FailureThrottle, Throttled
from db.access.audit import record
from db.access.tokens import TOUCH_EVERY, Token, get_token, role_allows, touch, verify_token
from db.core.timeutil import utcnow

log = logging.getLogger(__name__)

KEY = "tasklens_access"
SECRET_FILE = "secret_key"
# Above POST /api/v1/events' own 5 MB limit, so that one answers with its precise message.
MAX_CONTENT_LENGTH = 6 * 1024 * 1024
# Reachable without signing in: the sign-in page and what it shows, and the health check of load balancers.
# /api/, /ws and the OTLP receiver (/v1/traces) check for themselves (a JSON 401, a websocket error message,
# an OTLP Status).
OPEN_PATHS = frozenset({"/login", "/logout", "/healthz", "/vendor/bootstrap.min.css", "/_favicon.ico"})
SELF_CHECKED = ("/api/", "/ws", "/v1/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Dash renders its config and renderer as inline <script> tags, hence 'unsafe-inline' for scripts; no eval (a
# browser test draws every page under this policy and fails on any violation); everything else same-origin.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": CSP,
}
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
SESSION_CHECK_SECONDS = 5.0  # a revoked token's sessions end within this


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token, by id, name and role."""

    token_id: int
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"token:{self.name}"


class Access:
    """The access state of one web process: whether auth is on, the rate limiter of /api/v1."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.enabled = svc.settings.auth_enabled
        rate = svc.settings.rate()
        self.limiter = None if rate is None else RateLimiter(rate, svc.settings.rate_burst)
        self._sessions: dict[int, tuple[float, Principal | None]] = {}  # token id -> (checked at, principal)
        self._own_hosts = {urlsplit(svc.settings.base_url).netloc} - {""}
        self.throttle = FailureThrottle()

    def verify(self, secret: str) -> Token | None:
        """The active token of `secret`, counted for the client address's throttle: raises Throttled while
        that address has failed too often, before the secret is even looked at."""
        address = request.remote_addr or ""
        self.throttle.check(address)
        with self.svc.db.reading() as s:
            token = verify_token(s, secret)
        if token is None:
            self.throttle.failed(address)
        else:
            self.throttle.succeeded(address)
        return token

    def cross_site(self) -> bool:
        """The browser says this request comes from a page of another site (Origin, sent on every cross-site
        POST and websocket handshake; "null" from sandboxed or privacy-stripped pages). No Origin: not a
        browser acting for another site."""
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        return urlsplit(origin).netloc not in self._own_hosts | {request.host}

    def bearer(self) -> Principal | None:
        """The token of the `Authorization: Bearer` header, if it names an active one."""
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        token = self.verify(secret.strip())
        if token is None:
            return None
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            try:
                with self.svc.db.writing() as s:
                    touch(s, token, now)
            except Exception:  # a busy database must not fail the request over a "last used" time
                log.debug("could not record the use of token %s", token.id, exc_info=True)
        return Principal(token.id, token.name, token.role)

    def signed_in(self) -> Principal | None:
        """The principal of the session cookie, while its token is still active (checked every few seconds)."""
        token_id = session.get("tid")
        if not isinstance(token_id, int):
            return None
        checked = self._sessions.get(token_id)
        if checked is not None and time.monotonic() - checked[0] < SESSION_CHECK_SECONDS:
            return checked[1]
        with self.svc.db.reading() as s:
            token = get_token(s, token_id)
        principal = None if token is None or not token.active else Principal(token.id, token.name, token.role)
        self._sessions[token_id] = (time.monotonic(), principal)
        return principal

    def caller(self, *, allow_session: bool = True) -> Principal | None:
        """A bearer header decides when present (an invalid one is no one); otherwise the session."""
        if request.headers.get("Authorization"):
            return self.bearer()
        return self.signed_in() if allow_session else None

    def denied(self, needed: str) -> str | None:
        """For the dashboard's write callbacks: None when the signed-in user may do what `needed` may (or auth
        is off), else a sentence saying why not."""
        if not self.enabled:
            return None
        who = self.signed_in()
        if who is None:
            return "Your session has ended: sign in again at /login."
        if role_allows(who.role, needed):
            return None
        return f"Signed in as {who.name} ({who.role}): this needs the {needed} role."

    def actor(self, default: str) -> str:
        """Who the dashboard's audit rows and events name: the signed-in token, else `default`."""
        who = self.signed_in() if self.enabled else None
        return who.actor if who else default


def current() -> Access:
    access: Access = current_app.extensions[KEY]
    return access


def secret_key(settings: Settings) -> str:
    """TASKLENS_SECRET_KEY, else the key kept in the data dir (made once, readable by its owner only), so that
    sessions survive a restart and every web process of one installation shares it."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_path / SECRET_FILE
    for _ in range(50):
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            key = ""
        if key:
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.02)  # another process is writing it
            continue
        key = secrets.token_hex(32)
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
        return key
    raise RuntimeError(f"cannot read the session key {Path(path)}; set TASKLENS_SECRET_KEY")


def install(server: Flask, svc: Services) -> None:
    """Access control, headers and size limit on the dashboard's server (once per app)."""
    access = Access(svc)
    server.extensions[KEY] = access
    server.request_class = BoundedRequest  # the size limit holds for chunked bodies too (413, not a 400)
    server.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    if access.enabled:
        server.secret_key = secret_key(svc.settings)
        server.config.update(
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_SECURE=svc.settings.base_url.startswith("https://"),
            SESSION_COOKIE_NAME="tasklens_session",
        )

    @server.before_request
    def _require_sign_in() -> ResponseReturnValue | None:
        if not access.enabled or request.path.startswith(SELF_CHECKED):
            return None
        if request.method not in SAFE_METHODS and access.cross_site():
            # A form on another site posting to /login, /logout or a Dash callback: refused before the
            # session cookie counts (SameSite=Lax already withholds it from most of these; this is the rest).
            return Response("refused: this request came from another site\n", 403, mimetype="text/plain")
        if request.path in OPEN_PATHS:
            return None
        if access.caller() is not None:
            return None
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            target = request.full_path.rstrip("?")
            return redirect(f"/login?next={quote(target, safe='')}")
        return Response(
            "sign in first: /login, or send Authorization: Bearer <token>\n", 401, mimetype="text/plain"
        )

    @server.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def login() -> ResponseReturnValue:
        target = _safe_next(request.values.get("next", "/"))
        if not access.enabled:
            return redirect(target)
        error = ""
        if request.method == "POST":
            try:
                token = access.verify(request.form.get("token", "").strip())
            except Throttled as exc:
                page = _login_page(target, exc.description or "")
                return Response(page, 429, {"Retry-After": str(exc.seconds)}, mimetype="text/html")
            if token is not None:
                session.clear()
                session["tid"] = token.id
                session.permanent = True
                return redirect(target)
            error = "That token is not valid (or has been revoked)."
        return Response(_login_page(target, error), 401 if error else 200, mimetype="text/html")

    def logout() -> ResponseReturnValue:
        session.clear()
        return redirect("/login")

    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])


def _safe_next(raw: str) -> str:
    """Only a path of this site, so the sign-in cannot send people elsewhere. Browsers drop tabs and other
    control characters from a URL (`/\t/evil.com` is `//evil.com` to them), so those go first; then no scheme
    and no host may remain. CR or LF could only be an attempt to split the Location header: 400."""
    if "\r" in raw or "\n" in raw:
        raise BadRequest("the sign-in's next address may not hold a line break")
    cleaned = CONTROL_CHARS.sub("", raw)
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or not cleaned.startswith("/") or cleaned.startswith("//"):
        return "/"
    if "\\" in cleaned:  # some browsers read a backslash as a slash: /\evil.com
        return "/"
    return cleaned


def _login_page(target: str, error: str) -> str:
    alert = f'<div class="alert alert-danger" role="alert">{html.escape(error)}</div>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · TaskLens</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/vendor/bootstrap.min.css"></head>
<body class="bg-light"><main class="container py-5" style="max-width: 32rem">
<h1 class="h3 mb-3">TaskLens</h1>
<p class="text-muted">Sign in with an API token. An admin makes one with
<code class="text-body">python app.py token create --role viewer --name you</code>.</p>
{alert}
<form method="post" action="/login">
<input type="hidden" name="next" value="{html.escape(target)}">
<label class="form-label" for="token">Token</label>
<input class="form-control mb-3" type="password" id="token" name="token" autocomplete="off" required autofocus>
<button class="btn btn-primary" type="submit" id="sign-in">Sign in</button>
</form></main></body></html>
"""


# ---- the dashboard's write callbacks ------------------------------------------------------------------------
def dashboard_denied(svc: Services, needed: str) -> str | None:
    """None when the dashboard's user may do what the `needed` role may (always with auth off), else why not."""
    if not svc.settings.auth_enabled:
        return None
    if not has_request_context():
        return "Sign in first."
    return current().denied(needed)


def dashboard_actor(svc: Services, default: str = "dashboard") -> str:
    """Who a dashboard action is recorded as: the signed-in token (`token:<name>`), else `default`."""
    if not svc.settings.auth_enabled or not has_request_context():
        return default
    return current().actor(default)


def audit(svc: Services, actor: str, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    """An audit row of a dashboard action, after the action's own transaction."""
    with svc.db.writing() as s:
        record(s, actor, action, target, details, now=utcnow())
