"""The address a request came from, read in one place: the login lockout
(django-axes, AXES_CLIENT_IP_CALLABLE) and the card link's limiter use it.

Behind a TLS proxy REMOTE_ADDR is the proxy's address, and X-Forwarded-For lists
the addresses each proxy saw, the nearest last. Anyone can send that header, so
it is believed only as far as proxies we trust wrote it: walk it from the right,
skip the proxies in OPUS_TRUSTED_PROXIES, and the first address left is the
client's. With no trusted proxy (the default) the header is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request) -> str | None:
    """The client's address in canonical form; None for a request without one
    (one built in code, as Django's test client's force_login does)."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None:
        return None
    trusted = _networks(tuple(settings.OPUS_TRUSTED_PROXIES))
    client = peer
    if _is_trusted(client, trusted):
        hops = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:  # garbage: nothing left of it was vouched for
                break
            client = address
            if not _is_trusted(client, trusted):
                break
    return str(client)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def axes_client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How the login lockout names a client in the log (AXES_CLIENT_STR_CALLABLE):
    neither the username nor the address in clear, but keyed hashes of each, so
    repeated failures of one username, or from one address, can still be told."""
    if isinstance(path_info, (tuple, list)):
        path_info = path_info[0]
    username, address = _digest(username), _digest(ip_address)
    return f'{{username: "{username}", address: "{address}", path_info: "{path_info}"}}'


def _digest(value) -> str:
    if not value:
        return "-"
    key = f"opus-log-pseudonym:{settings.SECRET_KEY}".encode()
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()[:12]
