"""Refuse URLs that lead into private networks (SSRF guard).

A URL typed by a supplier, found in a feed or linked from a crawled page must not make Vivier's server fetch
`http://169.254.169.254/` (a cloud metadata service), `http://localhost:5432/` or a machine of the operator's
internal network. A host is allowed only when every address it resolves to is globally routable.
Operators crawling their own intranet, and tests serving fixture sites on loopback, switch the check off
explicitly (`VIVIER_ALLOW_PRIVATE_NETWORKS=1`, `--loopback-fixture`).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable
from urllib.parse import urlsplit

Resolver = Callable[[str], Iterable[str]]


class UnsafeAddress(ValueError):
    """The URL's host is, or resolves to, an address that is not on the public internet."""


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for private, loopback, link-local, shared (CGNAT),
    multicast, reserved or unspecified ones, including their IPv4-mapped IPv6 forms."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(str(embedded))
    return ip.is_global and not ip.is_multicast


def check_host(host: str, resolver: Resolver = system_resolver) -> list[str]:
    """The host's addresses, or UnsafeAddress if it cannot be resolved or any address is not public."""
    host = host.strip("[]").rstrip(".").lower()
    if not host:
        raise UnsafeAddress("adresse sans nom d'hôte")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        try:
            addresses = list(resolver(host))
        except (OSError, UnicodeError) as error:
            raise UnsafeAddress(f"le nom d'hôte {host!r} ne peut pas être résolu ({error})") from None
    if not addresses:
        raise UnsafeAddress(f"le nom d'hôte {host!r} ne correspond à aucune adresse")
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise UnsafeAddress(f"{host!r} mène à une adresse non publique ({', '.join(private)})")
    return addresses


def check_public_url(url: str, resolver: Resolver = system_resolver) -> None:
    """Raise UnsafeAddress unless `url` is http(s) and its host resolves only to public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UnsafeAddress(f"seules les adresses http et https sont acceptées, pas {parts.scheme or 'rien'!r}")
    check_host(parts.hostname or "", resolver)
