"""Finding the daemon: its address and the authkey, as every qmgr client does.

This mirrors ``client/address.c``, ``client/target.c`` (``qmgr_target_resolve``) and
``common/paths.c`` exactly, so that a Python program, ``qmgrctl`` and the C
library given the same environment all reach the same daemon with the same key.
"""

from __future__ import annotations

import os
import pwd
import socket
import ssl
from typing import List, NamedTuple, Optional, Tuple, Union

from .errors import AuthenticationError, ConnectionError

__all__ = ["DEFAULT_ADDRESS", "Address", "AddressLike", "KeyLike", "parse_address",
           "resolve_addresses", "resolve_authkey", "default_keyfile", "open_socket",
           "tls_context", "cannot_connect", "untrusted"]

DEFAULT_ADDRESS = "127.0.0.1:50002"
AUTHKEY_MAX_SIZE = 4096  # common/authkey.h
_UNIX_PREFIX = "unix:"
_TLS_PREFIX = "tls://"

AddressLike = Union[str, Tuple[str, int], None]
KeyLike = Union[bytes, bytearray, memoryview, str, None]


class Address(NamedTuple):
    """A parsed address: a unix socket path, or a host and port (TLS or not)."""

    host: str
    port: int
    path: Optional[str] = None
    tls: bool = False

    def __str__(self) -> str:
        if self.path is not None:
            return _UNIX_PREFIX + self.path
        prefix = _TLS_PREFIX if self.tls else ""
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "%s%s:%d" % (prefix, host, self.port)


def _port(text: str, original: str) -> int:
    if not text or len(text) > 5 or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("bad address %r: the port must be 1 to 65535" % original)
    return int(text)


def _parse_inet(text: str) -> Address:
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError("bad address %r: want [v6]:port" % text)
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        # An IPv6 address needs its brackets, or the port is ambiguous.
        if not sep or ":" in host:
            raise ValueError("bad address %r: want host:port, [v6]:port or unix:/path" % text)
    if not host or len(host) >= 256:
        raise ValueError("bad address %r: no host" % text)
    return Address(host, _port(port, text))


def parse_address(address: Union[str, Tuple[str, int]]) -> Address:
    """``"host:port"``, ``"[v6]:port"``, ``"tls://host:port"``, ``"unix:/path"``
    or ``(host, port)``; blanks around it are ignored."""
    if isinstance(address, tuple):
        host, port = address
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError("bad address %r: the port must be 1 to 65535" % (address,))
        return Address(host or "127.0.0.1", port)
    if not isinstance(address, str):
        raise TypeError("address must be a str or a (host, port) tuple, not %s" % type(address).__name__)
    address = address.strip(" \t")
    if address.startswith(_TLS_PREFIX):
        if address.startswith(_TLS_PREFIX + _UNIX_PREFIX):
            raise ValueError("bad address %r: tls:// needs host:port" % address)
        return _parse_inet(address[len(_TLS_PREFIX):])._replace(tls=True)
    if address.startswith(_UNIX_PREFIX):
        path = address[len(_UNIX_PREFIX):]
        if not path or len(path.encode()) >= 108:
            raise ValueError("bad address %r: the socket path must be 1 to 107 bytes" % address)
        return Address("", 0, path)
    return _parse_inet(address)


def resolve_addresses(address: AddressLike) -> List[Address]:
    """The given address, else ``$QMGR_ADDR``, else 127.0.0.1:50002; a string
    may list several separated by commas (the front ends of a cluster), tried
    in turn as the C library does."""
    if address is None:
        address = os.environ.get("QMGR_ADDR") or DEFAULT_ADDRESS
    if isinstance(address, str):
        return [parse_address(one) for one in address.split(",")]
    return [parse_address(address)]



def _home_dir() -> str:
    home = os.environ.get("HOME", "")
    if home.startswith("/"):
        return home
    try:
        return pwd.getpwuid(os.getuid()).pw_dir or "/"
    except KeyError:
        return "/"


def default_state_dir() -> str:
    """The daemon's default state directory (``paths_default_state_dir``)."""
    state = os.environ.get("STATE_DIRECTORY", "")
    if state.startswith("/"):
        # systemd lists several StateDirectory= entries with ':'; ours is the first.
        return state.split(":", 1)[0]
    if os.geteuid() == 0:
        return "/var/lib/qmgr"
    # The XDG spec says a relative XDG_STATE_HOME is invalid and ignored.
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if xdg.startswith("/"):
        return xdg + "/qmgr"
    return _home_dir() + "/.local/state/qmgr"


def default_keyfile() -> str:
    """The daemon's default key file (``paths_authkey_in``): the systemd
    credential if the unit passes one, else ``authkey`` in the state directory."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY", "")
    if creds.startswith("/"):
        return creds + "/authkey"
    return default_state_dir() + "/authkey"


def _read_keyfile(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            key = f.read(AUTHKEY_MAX_SIZE + 2)
    except OSError as e:
        raise AuthenticationError("%s: cannot read the authkey: %s" % (path, e.strerror or e)) from e
    if key.endswith(b"\n"):
        key = key[:-1]
    if len(key) > AUTHKEY_MAX_SIZE:
        raise AuthenticationError("%s: the authkey is longer than %d bytes" % (path, AUTHKEY_MAX_SIZE))
    if not key:
        raise AuthenticationError("%s: the authkey is empty" % path)
    return key


def resolve_authkey(authkey: KeyLike) -> bytes:
    """The key as bytes: given (a str is UTF-8), else read from
    ``$QMGR_AUTHKEY_FILE``, else from the daemon's default key file; one
    trailing newline of a file is not part of the key."""
    if authkey is None:
        return _read_keyfile(os.environ.get("QMGR_AUTHKEY_FILE") or default_keyfile())
    key = authkey.encode("utf-8") if isinstance(authkey, str) else bytes(authkey)
    if not 1 <= len(key) <= AUTHKEY_MAX_SIZE:
        raise ValueError("the authkey must be 1 to %d bytes" % AUTHKEY_MAX_SIZE)
    return key


def tls_context(ca: Optional[str] = None, cert: Optional[str] = None,
                key: Optional[str] = None) -> ssl.SSLContext:
    """The context of tls:// connections, as the C library makes it: TLS 1.2
    or later; the daemon's certificate checked against `ca` (else
    ``$QMGR_TLS_CA``, else the system's CAs) and its host name; a client
    certificate `cert` with `key` (else ``$QMGR_TLS_CERT``/``$QMGR_TLS_KEY``)."""
    ca = ca or os.environ.get("QMGR_TLS_CA") or None
    cert = cert or os.environ.get("QMGR_TLS_CERT") or None
    key = key or os.environ.get("QMGR_TLS_KEY") or None
    if (cert is None) != (key is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    try:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert is not None:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConnectionError("TLS: cannot load %s: %s" % (ca or cert or "the system's CAs", e)) from e
    return ctx


def untrusted(address: Address, e: ssl.SSLCertVerificationError) -> AuthenticationError:
    """A certificate that cannot be trusted: the daemon failed to prove who it is."""
    return AuthenticationError("TLS: the certificate of %s is not trusted: %s"
                               % (address.host, e.verify_message))


def cannot_connect(address: Address, e: OSError) -> ConnectionError:
    return ConnectionError("cannot connect to %s: %s" % (address, e.strerror or e))


def _wrap_tls(sock: socket.socket, address: Address, context: Optional[ssl.SSLContext]) -> socket.socket:
    """The TLS handshake on a connected socket (checking the host name)."""
    try:
        return (context or tls_context()).wrap_socket(sock, server_hostname=address.host)
    except ssl.SSLCertVerificationError as e:
        sock.close()
        raise untrusted(address, e) from e
    except BaseException:
        sock.close()
        raise


def open_socket(address: Address, timeout: Optional[float],
                tls: Optional[ssl.SSLContext] = None) -> socket.socket:
    """A connected stream socket, through TLS for a tls:// address (`tls`:
    its context, else tls_context()); TCP_NODELAY since requests are small
    frames that Nagle would otherwise hold back."""
    try:
        if address.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(address.path)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((address.host, address.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _wrap_tls(sock, address, tls) if address.tls else sock
    except AuthenticationError:
        raise
    except OSError as e:
        raise cannot_connect(address, e) from e
