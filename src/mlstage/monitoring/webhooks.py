"""Webhook delivery: the address check at send time, HMAC signing, retries with backoff.

A webhook URL is resolved when it is sent, every attempt, and every address
it resolves to must be public (or inside a network of the
``alert_allowed_networks`` setting): loopback, private, link-local
(169.254.169.254, the cloud metadata service), multicast, reserved and
unspecified addresses are refused, IPv4-mapped IPv6 included. The request
then goes to the address that was checked, not to the name, so a DNS answer
that changes between the check and the connection (rebinding) reaches
nothing new: the URL's host travels in the ``Host`` header and, over TLS,
as the SNI name the certificate is verified against. Redirects are not
followed.

Each body is signed: ``X-Mlstage-Signature: sha256=<hex HMAC-SHA256 of the
body with the rule's secret>``; ``X-Mlstage-Delivery`` is the delivery id
(the same on every retry, so receivers can drop duplicates).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlstage.errors import Forbidden, InvalidInput

Resolver = Callable[[str, int], Sequence[str]]
"""host, port -> the addresses it resolves to."""
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RETRY_DELAYS = (0.5, 2.0, 8.0)
"""Seconds before the 2nd, 3rd and 4th attempt."""
SIGNATURE_HEADER = "X-Mlstage-Signature"
DELIVERY_HEADER = "X-Mlstage-Delivery"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (TCP), in the system's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"webhook host {host!r} does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_networks(values: Sequence[str]) -> list[Network]:
    """The ``alert_allowed_networks`` setting as networks; a bad CIDR names itself."""
    out: list[Network] = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise InvalidInput(
                f"alert_allowed_networks: {value!r} is not a network (write 10.0.0.0/8 or "
                "127.0.0.1/32)"
            ) from None
    return out


def internal_reason(address: Address) -> str | None:
    """Why ``address`` is not a public one, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return internal_reason(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


@dataclass(frozen=True)
class Target:
    """A webhook URL after the check: where to connect, and what to call it."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def connect_url(self) -> str:
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def check_target(
    url: str, allowed: Sequence[Network], resolver: Resolver = system_resolver
) -> Target:
    """The URL's target if every address it resolves to may be reached; ``Forbidden`` if not."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"webhook URL {url[:200]!r} must be http:// or https:// with a host")
    if parts.username or parts.password:
        raise InvalidInput("webhook URL must not carry credentials; use the rule's secret")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise InvalidInput(f"webhook URL {url[:200]!r} has a bad port") from None
    host = parts.hostname
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = list(resolver(host, port))
    if not addresses:
        raise InvalidInput(f"webhook host {host!r} resolves to no address")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = internal_reason(address)
        if why is not None and not any(address in network for network in allowed):
            raise Forbidden(
                f"webhook {host!r} resolves to {address}, a {why} address; alerts are not sent "
                "to internal addresses unless the alert_allowed_networks setting includes it"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, scheme, host, port, path, addresses[0].split("%", 1)[0])


def signature(secret: bytes, body: bytes) -> str:
    """The ``X-Mlstage-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass
class Outcome:
    delivered: bool
    attempts: int
    error: str = ""
    status_code: int | None = None


def send_webhook(
    url: str,
    body: bytes,
    *,
    secret: bytes,
    delivery_id: str,
    allowed: Sequence[Network],
    timeout: float = 10.0,
    resolver: Resolver = system_resolver,
    retry_delays: Sequence[float] = RETRY_DELAYS,
    sleep: Callable[[float], None] = time.sleep,
    transport: Any = None,
) -> Outcome:
    """POST ``body`` to ``url``, checked at every attempt, retried on failures worth retrying.

    A refused address, a 4xx answer (but 408 and 429) or a redirect is final.
    """
    import httpx

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "mlstage-alerts",
        SIGNATURE_HEADER: signature(secret, body),
        DELIVERY_HEADER: delivery_id,
    }
    error = ""
    code: int | None = None
    attempts = 0
    for attempt in range(len(retry_delays) + 1):
        if attempt:
            sleep(retry_delays[attempt - 1])
        attempts += 1
        try:
            target = check_target(url, allowed, resolver)
        except (Forbidden, InvalidInput) as exc:
            return Outcome(False, attempts, exc.message)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            with httpx.Client(
                timeout=timeout, follow_redirects=False, transport=transport, trust_env=False
            ) as client:
                response = client.post(
                    target.connect_url,
                    content=body,
                    headers={**headers, "Host": target.host_header},
                    extensions=extensions,
                )
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            continue
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(True, attempts, "", code)
        error = f"the receiver answered {code}"
        if 300 <= code < 400 or (400 <= code < 500 and code not in (408, 429)):
            return Outcome(False, attempts, error + " (not retried)", code)
    return Outcome(False, attempts, error, code)
