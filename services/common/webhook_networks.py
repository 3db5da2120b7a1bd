"""Where webhooks may go: public unicast addresses, plus the networks an operator allows.

Gateway (a literal IP in a submitted URL) and worker (every address it is
about to connect to) use the same rule, so a URL accepted at submit is judged
the same way at delivery. Refused unless allowlisted: loopback, private
(RFC 1918, unique-local), carrier-grade NAT, link-local (hence the cloud
metadata service at 169.254.169.254), multicast, reserved, unspecified,
documentation and benchmark ranges (everything ``ipaddress`` does not call
global), IPv4-mapped and NAT64 forms of those, and the metadata addresses
named below even if a future ``ipaddress`` called them global.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata services (AWS IPv4/IPv6, Alibaba, Oracle...): never a webhook target.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or bare addresses) from a setting; ValueError names a bad one."""
    networks = []
    for value in values:
        text = value.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR form: {text!r}") from exc
    return tuple(networks)


@dataclass(frozen=True)
class NetworkPolicy:
    allowed: tuple[IPNetwork, ...] = field(default=())

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why ``address`` may not be connected to, or None if it may."""
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
            ip = ipaddress.ip_address(str(ip).split("%", 1)[0])
        if any(ip in network for network in self.allowed if network.version == ip.version):
            return None
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = self.refusal(inner)
            return None if reason is None else f"{ip} embeds {inner}: {reason}"
        if ip in METADATA_ADDRESSES:
            return f"{ip} is a cloud metadata address"
        if ip.is_multicast:
            return f"{ip} is multicast"
        if not ip.is_global:
            return f"{ip} is not a public address ({_category(ip)})"
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _category(ip: IPAddress) -> str:
    for name in ("loopback", "link_local", "private", "reserved", "unspecified"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return "special-purpose"


def split_networks(value: object) -> object:
    """Settings validator: ``"10.0.0.0/8, 127.0.0.0/8"`` to a checked tuple of CIDRs."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return tuple(str(network) for network in parse_networks(str(v) for v in value))
    return value


ALLOWED_NETWORKS_HELP = (
    "Comma-separated CIDRs webhooks may reach although they are not public (loopback, "
    "private, link-local...): e.g. 10.0.0.0/8 for receivers inside the cluster. Empty: "
    "public addresses only."
)
