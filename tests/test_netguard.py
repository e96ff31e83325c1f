"""SSRF guard: only globally routable addresses may be fetched for URLs from users, feeds and crawled pages."""

import pytest

from vivier.netguard import UnsafeAddress, check_host, check_public_url, is_public_address


@pytest.mark.parametrize("address", [
    "10.1.2.3", "172.16.0.1", "192.168.1.10", "127.0.0.1", "127.8.8.8", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "fe80::1", "fc00::1", "::", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "2002:7f00:1::1", "not an address",
])
def test_private_loopback_link_local_and_special_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", [
    # NAT64, well-known prefix (RFC 6052): the IPv4 address in the last 32 bits is the one reached
    "64:ff9b::127.0.0.1", "64:ff9b::7f00:1", "64:ff9b::10.0.0.1", "64:ff9b::192.168.1.1", "64:ff9b::169.254.169.254",
    "64:ff9b::100.64.0.1", "64:ff9b::0.0.0.0",
    # NAT64, local-use prefix (RFC 8215): refused whatever it embeds
    "64:ff9b:1::a00:1", "64:ff9b:1:7f00:1::", "64:ff9b:1::808:808",
    # IPv4-compatible (::a.b.c.d, deprecated by RFC 4291)
    "::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::192.168.0.1", "::8.8.8.8",
    # IPv4-mapped and IPv4-translated (SIIT, RFC 2765)
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1",
    # 6to4 (2002::/16) embedding a private IPv4 address
    "2002:a00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::1", "2002:6440:1::1",
])
def test_ipv6_forms_of_private_ipv4_addresses_are_not_public(address):
    assert not is_public_address(address)
    with pytest.raises(UnsafeAddress, match="non publique"):
        check_public_url(f"http://[{address}]/")


@pytest.mark.parametrize("address", ["8.8.8.8", "193.51.24.1", "2001:4860:4860::8888", "::ffff:8.8.8.8",
                                     "64:ff9b::8.8.8.8", "2002:808:808::1"])
def test_global_addresses_are_public(address):
    assert is_public_address(address)


def test_a_name_is_refused_if_any_of_its_addresses_is_private():
    resolver = {"ok.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.5"],
                "none.example": []}.__getitem__
    assert check_host("ok.example", resolver) == ["93.184.216.34"]
    with pytest.raises(UnsafeAddress, match="10.0.0.5"):
        check_host("mixed.example", resolver)
    with pytest.raises(UnsafeAddress, match="aucune adresse"):
        check_host("none.example", resolver)


def test_real_resolution_of_localhost_and_unresolvable_names():
    with pytest.raises(UnsafeAddress, match="non publique"):
        check_public_url("http://localhost:5432/")
    with pytest.raises(UnsafeAddress, match="ne peut pas être résolu"):
        check_public_url("http://nowhere.invalid/")
    with pytest.raises(UnsafeAddress, match="non publique"):
        check_public_url("http://[::1]:8000/")


def test_only_http_and_https_are_accepted():
    for url in ("file:///etc/passwd", "gopher://example.org/", "ftp://example.org/"):
        with pytest.raises(UnsafeAddress, match="http et https"):
            check_public_url(url)
    check_public_url("https://93.184.216.34/")  # an address literal needs no resolver
