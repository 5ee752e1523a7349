"""URL normalisation, crawl scope, allowed hosts, private-address rules and mirror mapping."""

from __future__ import annotations

import asyncio
import ipaddress
import posixpath
import socket
from urllib.parse import urljoin, urlsplit, urlunsplit

from docs2qa.errors import ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}
# Extensions we know how to read when a link has one; anything else (images, archives)
# would just waste a request and be dropped as unsupported_content_type anyway.
PAGE_EXTENSIONS = {"", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt"}


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Absolute, fragment-less URL with lowercase scheme/host and no default port; None if unusable."""
    url = url.strip()
    if not url:
        return None
    if base is not None:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme:
        return None
    if scheme == "file":
        return urlunsplit(("file", "", parts.path, "", ""))
    if not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    # Rebuilding netloc from host/port also drops user:password@, which must never be
    # part of page identity or be written to records.
    netloc = host if port is None or port == DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def folder_of(url: str) -> str:
    """The URL up to and including its last '/', without the query."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return urlunsplit((parts.scheme, parts.netloc, path[: path.rfind("/") + 1], "", ""))


def extension_of(url: str) -> str:
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return posixpath.splitext(last)[1].lower()


def markdown_twin(url: str) -> str | None:
    """URL + '.md' for extension-less page URLs ('/docs/install' -> '/docs/install.md')."""
    parts = urlsplit(url)
    if parts.path.endswith("/") or extension_of(url):
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path + ".md", parts.query, ""))


class Scope:
    """Which URLs may be crawled: http(s), on a configured host, under a scope prefix."""

    def __init__(self, prefixes: list[str], hosts: set[str]):
        self.prefixes = sorted({p for p in (normalize_url(x) for x in prefixes) if p})
        self.hosts = hosts

    def check(self, url: str) -> str | None:
        """None when the URL is in scope, else the reason code for a Dropped record."""
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            return "unsupported_scheme"
        if host_of(url) not in self.hosts:
            return "host_not_allowed"
        if not any(url.startswith(p) for p in self.prefixes):
            return "out_of_scope"
        return None


class Mirror:
    """Maps canonical URLs to the mirror origin they are fetched from, and back.

    Without a base_url both directions are the identity.
    """

    def __init__(self, base_url: str | None, canonical_origins: list[str]):
        mirror = normalize_url(base_url) if base_url else None
        if base_url and mirror is None:
            raise ConfigError(
                f"crawl.base_url {base_url!r} is not a URL a page can be fetched from",
                "write it as scheme://host[:port], e.g. http://127.0.0.1:8000",
            )
        self.mirror = origin(mirror) if mirror else None
        self.origins = list(dict.fromkeys(canonical_origins))
        # Links that point at the mirror itself are mapped back to the first configured origin.
        self.primary = self.origins[0] if self.origins else None

    def to_fetch(self, url: str) -> str:
        if self.mirror is None or urlsplit(url).scheme not in ("http", "https"):
            return url
        if origin(url) in self.origins:
            return self.mirror + url[len(origin(url)) :]
        return url

    def to_canonical(self, url: str) -> str:
        if self.mirror is None or self.primary is None:
            return url
        if origin(url) == self.mirror:
            return self.primary + url[len(self.mirror) :]
        return url


def _is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_multicast
        or addr.is_unspecified
    )


class AddressGuard:
    """Rejects hosts that resolve to loopback/private/link-local addresses (SSRF guard)."""

    def __init__(self, allow_private: bool):
        self.allow_private = allow_private
        self._cache: dict[str, str | None] = {}

    async def check(self, url: str) -> str | None:
        """None when the host may be fetched, else a detail string for a 'private_address' drop."""
        if self.allow_private:
            return None
        host = host_of(url)
        if host in self._cache:
            return self._cache[host]
        verdict: str | None
        try:
            ipaddress.ip_address(host.strip("[]"))
            ips = [host.strip("[]")]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
                ips = [str(info[4][0]) for info in infos]
            except OSError:
                ips = []  # unresolvable: the fetch itself reports the network error
        bad = [ip for ip in ips if not _is_public(ip)]
        verdict = f"{host} resolves to {', '.join(sorted(set(bad)))}" if bad else None
        self._cache[host] = verdict
        return verdict
