"""Where webhooks may go: https on public addresses only, unless HEP_WEBHOOK_ALLOW_PRIVATE is set.

Checked when an endpoint is saved and again before every send. The send connects to the very address
that was checked (the host name still goes in `Host` and TLS SNI), so a DNS answer that changes between
the check and the connection (DNS rebinding) cannot point a webhook at an internal service.
"""

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from app.errors import Code, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(InvalidInput):
    code, title = Code.WEBHOOK_URL_NOT_ALLOWED, "Webhook URL not allowed"


@dataclass(frozen=True, slots=True)
class PinnedUrl:
    """The URL to connect to (host replaced by the checked address), and the original host for the
    `Host` header and TLS (SNI and certificate check)."""

    url: httpx.URL
    host_header: str
    sni_hostname: str


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.is_site_local:  # fec0::/10: deprecated, yet still routed inside some networks
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _parse(url: str, allow_private: bool) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeUrl("The URL is not valid.", code=Code.WEBHOOK_URL_INVALID) from exc
    allowed = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in allowed:
        raise UnsafeUrl("Webhook URLs must use https.", code=Code.WEBHOOK_URL_NOT_HTTPS)
    if not parsed.raw_host:
        raise UnsafeUrl("The URL has no host.", code=Code.WEBHOOK_URL_INVALID)
    return parsed


def _resolve(parsed: httpx.URL) -> list[IPAddress]:
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl("The URL's host name does not resolve.", code=Code.WEBHOOK_URL_UNRESOLVABLE) from exc
    # Drop an IPv6 zone ("fe80::1%eth0"): the address itself decides.
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return list(dict.fromkeys(addresses))


def _require_public(addresses: list[IPAddress]) -> None:
    refused = [str(address) for address in addresses if not is_public_address(address)]
    if refused:
        raise UnsafeUrl(
            f"The URL's host resolves to a private or reserved address ({', '.join(refused)}).",
            code=Code.WEBHOOK_URL_NOT_PUBLIC,
        )


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL an endpoint may not have (raises UnsafeUrl). With allow_private nothing is resolved."""
    parsed = _parse(url, allow_private)
    if not allow_private:
        _require_public(_resolve(parsed))


def pin(url: str, *, allow_private: bool) -> PinnedUrl:
    """Resolve the host now and return the URL to connect to; raises UnsafeUrl as check_url does."""
    parsed = _parse(url, allow_private)
    addresses = _resolve(parsed)
    if not allow_private:
        # Every address, not just the one used: a mixed answer is a rebinding attempt.
        _require_public(addresses)
    return PinnedUrl(
        url=parsed.copy_with(host=str(addresses[0])),
        host_header=parsed.netloc.decode("ascii"),
        sni_hostname=parsed.raw_host.decode("ascii"),
    )
