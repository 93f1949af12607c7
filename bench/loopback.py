"""Shared by the load scripts: they only ever load a server on this machine."""

import ipaddress
import socket
from urllib.parse import urlsplit


def is_loopback(url):
    """True when every address the URL's host resolves to is a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)
