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

# IPv6 blocks whose last 32 bits are an IPv4 address that a packet to them reaches: such an address is judged by that
# IPv4 address, so that ::ffff:127.0.0.1 or 64:ff9b::10.0.0.1 is refused and 64:ff9b::8.8.8.8 (what DNS64 answers for
# an IPv4-only site on an IPv6-only network) is not.
IPV4_IN_LAST_32_BITS = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped (RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
# IPv6 blocks refused whatever they embed: Python's is_global calls them global (3.11), yet they lead to IPv4 hosts.
REFUSED_IPV6 = (
    # IPv4-compatible (::a.b.c.d), deprecated by RFC 4291 since 2006: no site has one, and stacks that still honour
    # it send ::127.0.0.1 to the IPv4 loopback.
    ipaddress.IPv6Network("::/96"),
    # NAT64 local-use prefix (RFC 8215): an operator's own translator into its networks, whose IPv4 address may sit
    # at several places depending on the prefix length it uses: refused like a private range.
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


class UnsafeAddress(ValueError):
    """The URL's host is, or resolves to, an address that is not on the public internet."""


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped or -translated, NAT64 (well-known prefix), 6to4, Teredo
    (the client); None for any other."""
    if any(ip in block for block in IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(ip.packed[-4:])
    return ip.sixtofour or (ip.teredo[1] if ip.teredo else None)


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for private, loopback, link-local, shared (CGNAT),
    multicast, reserved or unspecified ones, including the IPv6 forms that lead to such an IPv4 address
    (IPv4-mapped, -translated or -compatible, NAT64, 6to4, Teredo)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in block for block in REFUSED_IPV6):
            return False
        embedded = embedded_ipv4(ip)
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
