"""Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy you control.

Behind a proxy, the peer of every connection is the proxy, and the scheme is the one between
the proxy and granian. These wrappers put the original client address and scheme back, for
requests whose direct peer is one of `trusted_hosts`:

```python
from granian.utils.proxies import wrap_asgi_with_proxy_headers, wrap_wsgi_with_proxy_headers

app = wrap_asgi_with_proxy_headers(app, trusted_hosts=['10.0.0.0/8', '127.0.0.1'])
wsgi_app = wrap_wsgi_with_proxy_headers(wsgi_app, trusted_hosts='*')
```

`trusted_hosts` is one string or a list of them: IP addresses, networks in CIDR notation, or
`'*'` to trust every peer (only when nothing but the proxy can reach granian). Any other
string is compared as is with the peer address. The default trusts `127.0.0.1` only.

For a trusted peer:

- the client address becomes the nearest address of `X-Forwarded-For` that is not itself
  trusted, reading from the right (the entry added by the proxy that talked to granian), or
  the leftmost address when all of them are trusted; its port is reported as 0;
- the scheme becomes `X-Forwarded-Proto` (its first value when there are several) when that is
  `http` or `https` (`ws` / `wss` for a WebSocket); any other value is ignored.

Requests from other peers are passed on unchanged, whatever headers they carry.

The server applies proxy headers itself (`--proxy-headers`, on by default, trusting the peers
of `--forwarded-allow-ips`; see docs/proxies.md), before the app and so before these wrappers.
When it did, the scope (`scope['extensions']['granian.proxy_headers']`) or environ
(`environ['granian.proxy_headers']`) says so, and the wrappers pass the request on as the
server resolved it: the headers are never applied twice (with `trusted_hosts='*'` a second
pass would take the leftmost, client-written entry). When the server did not (its option is
off, or it does not trust the peer), the wrappers apply their own `trusted_hosts` as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ['ProxyTrust', 'wrap_asgi_with_proxy_headers', 'wrap_wsgi_with_proxy_headers']

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Set by the server (ASGI scope extension, WSGI environ key) when it applied proxy headers.
_MARK = 'granian.proxy_headers'


class ProxyTrust:
    """Which peers may set `X-Forwarded-*`, and what their headers mean.

    Independent of any interface, so the same rules apply to ASGI scopes, WSGI environs and
    anything else that knows the peer address and the two header values.
    """

    __slots__ = ('_all', '_names', '_networks')

    def __init__(self, trusted_hosts: str | Sequence[str] = '127.0.0.1') -> None:
        hosts = [trusted_hosts] if isinstance(trusted_hosts, str) else list(trusted_hosts)
        self._all = False
        self._networks: list[_Network] = []
        self._names: set[str] = set()
        for raw in hosts:
            host = str(raw).strip()
            if host == '*':
                self._all = True
                continue
            try:
                self._networks.append(ipaddress.ip_network(host.strip('[]'), strict=False))
            except ValueError:
                self._names.add(host)

    def trusts(self, host: str | None) -> bool:
        """Whether `host` (an address, without port) is a trusted proxy."""
        if self._all:
            return True
        if not host:
            return False
        if host in self._names:
            return True
        try:
            address = ipaddress.ip_address(host.strip('[]'))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def client(self, forwarded_for: str | None) -> str | None:
        """The client address an `X-Forwarded-For` value names, or None when it names none."""
        if not forwarded_for:
            return None
        hops = [_strip_port(hop) for hop in forwarded_for.split(',')]
        hops = [hop for hop in hops if hop]
        if not hops:
            return None
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0]

    @staticmethod
    def scheme(forwarded_proto: str | None, websocket: bool = False) -> str | None:
        """The scheme an `X-Forwarded-Proto` value names (`ws`/`wss` for a WebSocket), or None."""
        if not forwarded_proto:
            return None
        proto = forwarded_proto.split(',')[0].strip().lower()
        if proto in ('ws', 'wss'):
            proto = 'http' if proto == 'ws' else 'https'
        if proto not in ('http', 'https'):
            return None
        if websocket:
            return 'wss' if proto == 'https' else 'ws'
        return proto


def _strip_port(hop: str) -> str:
    """An `X-Forwarded-For` entry without quotes or port: `[::1]:80` -> `::1`, `1.2.3.4:5` -> `1.2.3.4`."""
    hop = hop.strip().strip('"')
    if hop.startswith('['):
        end = hop.find(']')
        return hop[1:end] if end > 0 else hop
    if hop.count(':') == 1:
        return hop.split(':', 1)[0]
    return hop


def _asgi_header(headers: Iterable[Any], name: bytes) -> str | None:
    """Every value of header `name` (lower case) in ASGI `headers`, joined with `,`."""
    values = [bytes(value).decode('latin-1') for key, value in headers if bytes(key).lower() == name]
    return ','.join(values) if values else None


class _ASGIProxyHeaders:
    __slots__ = ('app', 'trust')

    def __init__(self, app: Callable[..., Any], trust: ProxyTrust) -> None:
        self.app = app
        self.trust = trust

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> Any:
        kind = scope.get('type')
        if kind in ('http', 'websocket') and _MARK not in (scope.get('extensions') or ()):
            peer = scope.get('client')
            if self.trust.trusts(peer[0] if peer else None):
                scope = self._rewrite(scope, kind == 'websocket')
        return await self.app(scope, receive, send)

    def _rewrite(self, scope: dict[str, Any], websocket: bool) -> dict[str, Any]:
        headers = scope.get('headers') or ()
        client = self.trust.client(_asgi_header(headers, b'x-forwarded-for'))
        scheme = self.trust.scheme(_asgi_header(headers, b'x-forwarded-proto'), websocket)
        if client is None and scheme is None:
            return scope
        scope = dict(scope)
        if client is not None:
            scope['client'] = (client, 0)
        if scheme is not None:
            scope['scheme'] = scheme
        return scope


def wrap_asgi_with_proxy_headers(
    app: Callable[..., Any], trusted_hosts: str | Sequence[str] = '127.0.0.1'
) -> Callable[..., Any]:
    """An ASGI app that serves `app` with `scope['client']` and `scope['scheme']` taken from
    `X-Forwarded-For` / `X-Forwarded-Proto` when the peer is in `trusted_hosts`.

    The scope is copied before it is changed; lifespan events pass through untouched, and so
    do requests whose proxy headers the server already applied.
    """
    return _ASGIProxyHeaders(app, ProxyTrust(trusted_hosts))


def wrap_wsgi_with_proxy_headers(
    app: Callable[..., Any], trusted_hosts: str | Sequence[str] = '127.0.0.1'
) -> Callable[..., Any]:
    """A WSGI app that serves `app` with `REMOTE_ADDR` and `wsgi.url_scheme` taken from
    `X-Forwarded-For` / `X-Forwarded-Proto` when the peer (`REMOTE_ADDR`) is in `trusted_hosts`.

    When the address is replaced, `REMOTE_PORT` (if present) becomes `'0'`. Requests whose proxy
    headers the server already applied are passed on as they are.
    """
    trust = ProxyTrust(trusted_hosts)

    def proxied(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if _MARK not in environ and trust.trusts(environ.get('REMOTE_ADDR')):
            client = trust.client(environ.get('HTTP_X_FORWARDED_FOR'))
            scheme = trust.scheme(environ.get('HTTP_X_FORWARDED_PROTO'))
            if client is not None:
                environ['REMOTE_ADDR'] = client
                if 'REMOTE_PORT' in environ:
                    environ['REMOTE_PORT'] = '0'
            if scheme is not None:
                environ['wsgi.url_scheme'] = scheme
        return app(environ, start_response)

    return proxied
