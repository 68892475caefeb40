"""From a profile's provider entry to a ready adapter: the pooled HTTP client, the key, the URL, the class.

`make_client` builds one `httpx.AsyncClient` per provider (HTTP/1.1 keep-alive pool, explicit timeouts from the
profile) over the aiohttp-backed transport (workbench/providers/aiohttp_transport.py), or over httpx's own httpcore
transport when `WORKBENCH_TRANSPORT=httpx` or when a proxy from the environment applies; `make_adapter` asks the
provider kind's plugin (workbench/providers/plugin.py) for the adapter class and default URL, and resolves secrets
from the environment at the last moment, so a profile only ever names variables. The engine owns the clients'
lifetimes. Nothing here imports a wire format before an adapter is made.
"""

from __future__ import annotations

import os
import re
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Any

import httpx

from workbench.errors import EngineError
from workbench.plugins import PluginError
from workbench.profiles.models import Provider
from workbench.providers.base import Adapter
from workbench.providers.plugin import PROVIDERS, ProviderPlugin

__all__ = ["make_client", "make_adapter", "sim_base_url", "transport_choice"]

#: environment variable that picks the HTTP transport under httpx: "aiohttp" (default) or "httpx" (httpcore)
TRANSPORT_ENV = "WORKBENCH_TRANSPORT"
TRANSPORTS = ("aiohttp", "httpx")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def transport_choice(provider: Provider, environ: Mapping[str, str] = os.environ) -> str:
    """ "aiohttp" or "httpx": `WORKBENCH_TRANSPORT` (default aiohttp). A provider other than a local one falls back to
    httpx when the environment names a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY...), since only httpx's transport
    honours one the way workbench always has. Raises `EngineError` for an unknown value."""
    value = (environ.get(TRANSPORT_ENV) or "aiohttp").strip().lower()
    if value not in TRANSPORTS:
        raise EngineError(
            f"environment variable {TRANSPORT_ENV}={environ.get(TRANSPORT_ENV)!r} is not a known HTTP transport",
            hint=f"use {' or '.join(TRANSPORTS)}, or unset it (default aiohttp)",
        )
    if value == "aiohttp" and not _plugin(provider).local and _env_proxies():
        return "httpx"
    return value


def _env_proxies() -> bool:
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


def make_client(provider: Provider, *, environ: Mapping[str, str] = os.environ) -> httpx.AsyncClient:
    """One pooled client for `provider`. `read` is the idle budget (the longest silence between two bytes of
    a stream); first-token and total budgets are the engine's, enforced around the adapter. Waiting for a pooled
    connection is bounded by the total budget: queueing behind our own requests is not the provider's fault.
    The transport under it is `transport_choice(provider, environ)`."""
    t = provider.timeouts
    limits = httpx.Limits(
        max_connections=provider.max_connections,
        max_keepalive_connections=provider.max_connections,
        keepalive_expiry=30.0,
    )
    local = _plugin(provider).local
    # A local service (the simulator, on loopback): a proxy from the environment must never sit in between.
    trust_env = not local
    # The simulator speaks plain HTTP: loading the CA bundle (~25 ms per client, on the way to the first event)
    # buys nothing. Its context trusts no authority, so a TLS connection through it could never verify.
    verify: ssl.SSLContext | bool = True
    transport: httpx.AsyncBaseTransport
    if transport_choice(provider, environ) == "aiohttp":
        from workbench.providers.aiohttp_transport import AiohttpTransport

        transport = AiohttpTransport(
            max_connections=provider.max_connections,
            keepalive_expiry=30.0,
            # the same trust as httpx's own transport (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), made on first use
            ssl_context=_no_tls_context if local else httpx.create_ssl_context,
        )
    else:
        if local:
            verify = _no_tls_context()
        # what httpx would make itself from the same arguments, made here so that it can sit behind the seam
        transport = httpx.AsyncHTTPTransport(verify=verify, trust_env=trust_env, http1=True, http2=False, limits=limits)
    return _Client(
        transport=TransportSeam(transport),
        # The engine enforces first-token, idle and total budgets itself, in the provider's own time (it extends a
        # wait by the time our event loop could not serve it, up to its hard stop at twice the total:
        # engine/attempt.py); httpx's read timeout is only a backstop and must not cut a wait before that.
        timeout=httpx.Timeout(
            connect=t.connect, read=2 * max(t.idle, t.first_token, t.total), write=t.idle, pool=t.total
        ),
        # (these four reach httpx's proxy transports only: a proxy from the environment keeps httpx's transport)
        limits=limits,
        http1=True,
        http2=False,
        trust_env=trust_env,
        verify=verify,
    )


class TransportSeam(httpx.AsyncBaseTransport):
    """The client's transport behind one indirection, so that it can be wrapped after the client is made (client-side
    fault injection, workbench/providers/faults.py): httpx has no public way to change a client's transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def transport_seam(client: httpx.AsyncClient) -> TransportSeam:
    """The seam of a client `make_client` made. Raises TypeError for any other client."""
    if isinstance(client, _Client):
        return client.transport_seam
    raise TypeError("only a client from workbench.providers.registry.make_client has a transport seam")


class _Client(httpx.AsyncClient):
    """httpx's client with two savings on the hot path, through httpx's public API only (the methods and property
    overridden are public; tests/providers/test_transport_choice.py checks both savings and that cookies still work):

    - `build_request` remembers the URLs it has parsed: an adapter posts to the same URL on every call, and parsing
      it again cost ~18 us of the ~40 us `build_request` takes (httpx.URL is immutable, so one can be shared; the
      client's `base_url` is still merged on every call);
    - `cookies` is a store that skips httpx's urllib shims on responses that set no cookie (see `_Cookies`). httpx
      reads and fills the store through this property only (checked on httpx 0.27.2, 0.28.1 and 0.29.0: its
      `__init__` fills a store of its own, which goes unused)."""

    def __init__(self, *, transport: TransportSeam, cookies: Any = None, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self.transport_seam = transport
        self._wb_cookies = _Cookies(cookies)
        self._wb_urls: dict[str, httpx.URL] = {}

    @property
    def cookies(self) -> httpx.Cookies:
        return self._wb_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._wb_cookies = _Cookies(cookies)

    def build_request(self, method: str, url: httpx.URL | str, **kwargs: Any) -> httpx.Request:
        if type(url) is str:
            urls = self._wb_urls
            parsed = urls.get(url)
            if parsed is None:
                if len(urls) >= 64:  # a caller that makes up URLs must not grow it without bound
                    urls.clear()
                parsed = urls[url] = httpx.URL(url)
            url = parsed
        return super().build_request(method, url, **kwargs)


class _Cookies(httpx.Cookies):
    """httpx's cookie store, kept (a provider behind Cloudflare sets cookies and gets them back, as before), minus
    its cost on the responses that set none: httpx wraps every response and its request in urllib shims to look for
    Set-Cookie (~10% of a bare streamed request's client CPU at concurrency 50, profiled)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


def _no_tls_context() -> ssl.SSLContext:
    """A client TLS context that verifies certificates and hostnames but trusts no CA (so no TLS peer passes)."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def sim_base_url(sim_url: str, wire: str) -> str:
    """The base URL an adapter needs to reach the embedded simulator at `sim_url` for `wire`."""
    return sim_url.rstrip("/") + PROVIDERS.get(wire).adapter_class(wire).API_ROOT


def _plugin(provider: Provider, provider_name: str | None = None) -> ProviderPlugin:
    try:
        return PROVIDERS.get(provider.kind)
    except PluginError as exc:  # (a profile that loaded names an installed kind; a plugin can still fail to import)
        where = f"provider {provider_name!r}: " if provider_name else ""
        raise EngineError(where + exc.message, hint=exc.hint) from exc


def _lookup(provider_name: str, provider: Provider, name: str, environ: Mapping[str, str], what: str) -> str | None:
    value = environ.get(name)
    if value:
        return value
    if not _plugin(provider).needs_key:
        return None  # e.g. the simulator: it takes any key, or none
    raise EngineError(
        f"provider {provider_name!r}: environment variable {name} is not set (needed for {what})",
        hint=f"export {name}=... before starting workbench, or change the profile's providers.{provider_name}",
    )


def make_adapter(
    provider_name: str,
    provider: Provider,
    client: httpx.AsyncClient,
    *,
    base_url: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Adapter:
    """The adapter for `provider`, talking through `client`.

    `base_url` overrides the profile (the engine passes what the kind's plugin says, e.g. the embedded
    simulator's URL for kind `sim`, see `sim_base_url`); otherwise the profile's `base_url`, else the kind's public
    default. Raises `EngineError` naming the provider and the variable when a referenced environment variable is
    unset (a kind that needs no key excepted: the key is dropped, and a header whose variable is unset is left
    out)."""
    plugin = _plugin(provider, provider_name)
    wire = plugin.wire_of(provider)
    cls = plugin.adapter_class(wire)
    api_key = None
    if provider.api_key_env:
        api_key = _lookup(provider_name, provider, provider.api_key_env, environ, "the API key")
    headers: dict[str, str] = {}
    for header, template in provider.headers.items():
        missing = False

        def substitute(match: re.Match[str], header: str = header) -> str:
            nonlocal missing
            value = _lookup(provider_name, provider, match.group(1), environ, f"header {header}")
            if value is None:
                missing = True
                return ""
            return value

        value = _ENV_REF.sub(substitute, template)
        if not missing:
            headers[header] = value
    url = base_url or provider.base_url
    if not url:
        url = plugin.default_base_url
    if not url:
        if not plugin.takes_base_url:
            raise EngineError(
                f"provider {provider_name!r} (kind {provider.kind}: {plugin.description or 'a local service'})"
                " serves itself but no URL was given",
                hint="start it first (for the simulator: pass its URL, see sim_base_url, to make_adapter)",
            )
        raise EngineError(
            f"provider {provider_name!r}: kind {provider.kind} has no default URL and the profile gives no `base_url`",
            hint=f"set providers.{provider_name}.base_url",
        )
    return cls(
        client,
        base_url=url,
        api_key=api_key,
        headers=headers,
        provider_name=provider_name,
        stream_usage=provider.stream_usage,
    )
