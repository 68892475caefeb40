"""`workbench serve`: the same Textual app in a web browser, through textual-serve, on loopback by default.

Each browser tab gets its own `workbench tui` process (textual-serve runs the command per session), so the web
view is exactly the terminal app, keys and all. The app can spend money on real providers and rewrite profiles,
so the server guards it (textual-serve itself accepts any page and any client):

- The websocket `/ws` that drives the app is refused (403) unless its `Origin` is the address the page was
  served from, so another web page the user opens cannot drive the app (browsers always send `Origin` on a
  websocket handshake and pages cannot forge it).
- Without a token only loopback binds are allowed, and every request must name a loopback host (a DNS-rebound
  name pointing at 127.0.0.1 is refused).
- A non-loopback `--host` needs `--token`. Then every request must carry it: the printed URL has `?token=…`,
  which the server trades for an HttpOnly, SameSite=Strict cookie (and a redirect that drops it from the
  address bar); the websocket and the page's assets send the cookie. Tokens are compared in constant time.
- The page cannot be framed by another site, and it gives the keyboard to the app as it loads.
- Stopping the server ends every session's app (quit, then kill), so none runs on without its page.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import shlex
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from aiohttp import web

TOKEN_ENV = "WORKBENCH_SERVE_TOKEN"
TOKEN_RE = re.compile(r"[A-Za-z0-9._~-]{16,}")  # URL- and cookie-safe without quoting; 16+ characters
LOOPBACK_NAMES = {"localhost", "localhost."}
APP_QUIT_WAIT = 10.0  # seconds a session's app gets to quit when the server stops, before it is killed
HOST_RE = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
# Keys go to the app from the start: without this the page needs a click first, and that click also moves the
# app's focus to whatever pane is under the pointer (so typing a question opened help on its `?`).
# textual.js opens the terminal in its `window.onload`, which runs before this listener.
KEYS_TO_THE_APP = """<script>
  window.addEventListener("load", () => {
    const keys = document.querySelector(".xterm-helper-textarea");
    if (keys) keys.focus();
  });
</script>
"""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1); any other name or address is not."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def shown_url(host: str, port: int) -> str:
    """The address to print: a wildcard bind is reached through this machine's name."""
    name = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    if ":" in name:  # an IPv6 literal
        name = f"[{name}]"
    return f"http://{name}:{port}"


def make_server(command: str, *, host: str, port: int, token: str | None, public_url: str) -> Any:
    """A textual-serve `Server` that checks Origin, Host and (if given) the token on every request, and ends
    every session's app when it stops."""
    import asyncio

    from aiohttp import web
    from aiohttp.abc import AbstractAccessLogger
    from textual_serve.server import Server
    from yarl import URL

    class PathOnlyAccessLog(AbstractAccessLogger):
        """aiohttp's access log without query strings: the first request carries `?token=…`."""

        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            self.logger.info("%s %s %s", request.method, request.path, response.status)

    cookie_name = f"workbench_token_{port}"  # cookies ignore ports: one per served port
    live: set[Any] = set()  # textual-serve AppServices with a page connected

    async def _end(service: Any) -> None:
        """Ask a session's app to quit (it saves its runs); kill it if it has not after APP_QUIT_WAIT seconds."""
        try:
            await asyncio.wait_for(service.stop(), APP_QUIT_WAIT)
        except (TimeoutError, OSError, RuntimeError):
            process = getattr(service, "_process", None)
            if process is not None and process.returncode is None:
                process.kill()

    class GuardedServer(Server):
        async def _make_app(self) -> web.Application:
            app: web.Application = await super()._make_app()
            app.middlewares.append(self._guard)
            return app

        def _has_token(self, given: str | None) -> bool:
            assert token is not None
            return given is not None and hmac.compare_digest(given.encode(), token.encode())

        @web.middleware
        async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
            if not HOST_RE.fullmatch(request.host):  # it is written into the page: a name, an address, a port
                raise web.HTTPBadRequest(text="workbench serve: bad Host header")
            served_host = (URL(f"http://{request.host}").host or "").lower()
            if token is None and not is_loopback(served_host):
                # Bound to loopback without a token: a page that reached us through another name is a DNS rebind.
                raise web.HTTPForbidden(text=f"workbench serve: host {served_host!r} is not this loopback server")
            if request.path == "/ws" and not _same_origin(request.headers.get("Origin"), request.host):
                raise web.HTTPForbidden(text="workbench serve: websocket from another origin refused")
            if token is not None and not self._has_token(request.cookies.get(cookie_name)):
                if request.path == "/" and self._has_token(request.query.get("token")):
                    query = {k: v for k, v in request.query.items() if k != "token"}
                    found = web.HTTPSeeOther(str(URL("/").with_query(query)))
                    found.set_cookie(cookie_name, token, httponly=True, samesite="Strict", path="/")
                    raise found
                raise web.HTTPForbidden(
                    text="workbench serve: this server needs its token; open the address it printed (…/?token=…)"
                )
            response: web.StreamResponse = await handler(request)
            return response

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # textual-serve builds the page's URLs from the bind address; build them from the address the
            # browser used instead, so the websocket's Origin is that address and the cookie goes along.
            import aiohttp_jinja2

            base = f"{request.scheme}://{request.host}"
            context = {
                "font_size": _to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{'wss' if request.scheme == 'https' else 'ws'}://{request.host}/ws",
                "config": {"static": {"url": f"{base}/static/"}},
                "application": {"name": self.title},
            }
            page = aiohttp_jinja2.render_string("app_index.html", request, context)
            return web.Response(
                text=page.replace("</body>", f"{KEYS_TO_THE_APP}</body>", 1),
                content_type="text/html",
                # Another site must not frame the app and trick the user into typing into it.
                headers={"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"},
            )

        async def _process_messages(self, websocket: web.WebSocketResponse, app_service: Any) -> None:
            live.add(app_service)  # a session's app, running while its page is connected
            try:
                await super()._process_messages(websocket, app_service)
            finally:
                live.discard(app_service)

        async def on_shutdown(self, app: web.Application) -> None:
            # Stopping the server (Ctrl-C, SIGTERM) ends every session's app before the handlers are cancelled:
            # left to the cancellation, an app whose page was still open kept running with no page, forever.
            await asyncio.gather(*(_end(service) for service in list(live)))

        def serve(self, debug: bool = False) -> None:
            # As textual-serve's, with an access log that never writes the query string (the token).
            import signal

            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_exit)
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                print=lambda *args: None,
                access_log_class=PathOnlyAccessLog,
            )

    return GuardedServer(command, host=host, port=port, title="workbench", public_url=public_url)


def _to_int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _same_origin(origin: str | None, host_header: str) -> bool:
    """True when a websocket's Origin names the host and port the request was sent to (scheme http or https)."""
    from yarl import URL

    if not origin:
        return False
    try:
        seen = URL(origin)
        if seen.scheme not in ("http", "https") or not seen.host:
            return False
        served = URL(f"{seen.scheme}://{host_header}")
    except ValueError:
        return False
    return (seen.host.lower(), seen.port) == ((served.host or "").lower(), served.port)


@click.command()
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), default=None, help="profile to open")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (loopback by default)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="port to listen on")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="session database for the served app")
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"secret the browser must present (needed for a non-loopback --host); or set {TOKEN_ENV}",
)
def serve(profile_path: Path | None, host: str, port: int, db: Path | None, token: str | None) -> None:
    """Serve the workbench TUI in a browser (textual-serve); prints the URL."""
    from workbench.errors import WorkbenchError

    if token is not None and not TOKEN_RE.fullmatch(token):
        raise WorkbenchError(
            "--token: use at least 16 characters, each a letter, digit, '-', '_', '.' or '~'",
            hint="e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'",
        )
    if token is None and not is_loopback(host):
        raise WorkbenchError(
            f"--host {host}: not a loopback address, and no --token: anyone who can reach it could drive "
            "workbench (run prompts on your API keys, rewrite profiles)",
            hint=f"give --token (or set {TOKEN_ENV}) to require a secret, or serve on 127.0.0.1",
        )
    try:
        import textual_serve.server  # noqa: F401
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise WorkbenchError(f"textual-serve is not installed: {exc}", hint="pip install textual-serve") from None
    parts = [sys.executable, "-m", "workbench", "tui"]
    if profile_path is not None:
        if not profile_path.is_file():
            raise WorkbenchError(f"{profile_path}: no such profile file")
        parts += ["--profile", str(profile_path.resolve())]
    if db is not None:
        parts += ["--db", str(db.resolve())]
    command = " ".join(shlex.quote(p) for p in parts)
    if os.name == "posix":
        command = f"exec {command}"  # textual-serve runs it through sh: the app is then sh's own process
    url = shown_url(host, port)
    server = make_server(command, host=host, port=port, token=token, public_url=url)
    shown = f"{url}/?token={token}" if token else url
    click.echo(f"workbench is served at {shown} (Ctrl-C stops it)", err=True)
    try:
        server.serve()
    except OSError as exc:  # the port is taken, the address is not this machine's, ...
        raise WorkbenchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
