"""`--forwarded-allow-ips`: which peers' proxy headers the engine applies.

The value is a comma-separated string (`'127.0.0.1,::1'`, as on the command line and in
`GRANIAN_FORWARDED_ALLOW_IPS` / `FORWARDED_ALLOW_IPS`) or, from Python, a list of entries. Each
entry is an IP address, a CIDR network (`10.0.0.0/8`, `2001:db8::/32`; a netmask such as
`10.0.0.0/255.0.0.0` is understood too) or `*` for every peer. Spaces and empty entries are
ignored; an empty list trusts no TCP peer (Unix-socket peers are always trusted, by the engine).

`parse_allow_ips` validates it once, for the config, and returns the normalised string the
config keeps and the engine reads (`src/http/forwarded/trust.rs`): entries joined by `,`, a
single address without its `/32` or `/128`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ['parse_allow_ips']


def parse_allow_ips(value: Any) -> str:
    """The normalised list; ValueError with the text to show for a bad entry."""
    if isinstance(value, str):
        items: list[Any] = value.split(',')
    elif isinstance(value, Iterable) and not isinstance(value, Mapping | bytes):
        items = list(value)
    else:
        raise ValueError(f'expected a comma-separated string or a list of strings, got {type(value).__name__}')
    entries = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f'expected a string entry, got {type(item).__name__} {item!r}')
        entry = item.strip()
        if entry:
            entries.append(_entry(entry))
    return ','.join(entries)


def _entry(entry: str) -> str:
    if entry == '*':
        return entry
    if '%' in entry:
        # ipaddress accepts IPv6 zone ids (`fe80::1%eth0`); a peer address never carries one.
        raise ValueError(f"'{entry}': IPv6 zone ids are not supported")
    try:
        network = ipaddress.ip_network(entry)
    except ValueError as exc:
        if 'has host bits set' in str(exc):
            fixed = ipaddress.ip_network(entry, strict=False)
            raise ValueError(f"'{entry}' has host bits set (the network is {fixed})") from None
        raise ValueError(f"'{entry}' is not an IP address, a CIDR network or '*'") from None
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)
