"""The connection users hold: calls, thread and fork safety, reconnecting.

Thread safety: a Client has one ``threading.Lock`` held around each call, from
sending the request to reading its reply, so any number of threads may share
one Client. Calls are serialised: a thread blocked in ``q.get()`` holds the
connection until that get returns, and other threads' calls on the same
Client wait for it. Give a thread that blocks for long its own Client.

Fork safety: a Client remembers the pid that opened it. A call from another
process (a forked child, a multiprocessing Pool worker) closes the child's copy
of the socket (close only, never shutdown, which would cut the parent's
connection) and opens a connection of its own with the same address and key.
A fork hook resets the lock in the child, which would otherwise stay held
forever if another thread of the parent was inside a call at fork time.

Reconnecting (``reconnect=True``): if the connection is lost, a read-only call
is sent again once on a new connection; any other call raises
``qmgr.ConnectionError`` and is never repeated (it may have been carried out:
a put must not become two puts), and the next call connects anew. A daemon
that closed the connection while it was idle is noticed before sending, so
the call then goes to the new connection whatever it is.

Addresses: ``"host:port"``, ``"[v6]:port"``, ``"unix:/path"``, ``(host, port)``,
or a string listing several separated by commas (the front ends of a
cluster): a connection goes to the first that answers, and a reconnect begins
with the address after the one it was connected to, as the C library does.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import (TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List, Optional,
                    Sequence, Tuple, Union)

from ._address import (Address, AddressLike, KeyLike, resolve_addresses, resolve_authkey,
                       tls_context)
from ._wire import Connection, Reply
from .errors import ConnectionError, Error, ProtocolError, error_from_wire
from .proxies import BufProxy, QueueProxy, Serializer, Transform, check_serializer

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["Client", "connect", "READ_ONLY_METHODS", "call_wait", "reply_wait", "none_answered",
           "descriptor_object"]

#: Methods safe to send twice: they change nothing in the daemon.
READ_ONLY_METHODS: FrozenSet[str] = frozenset({
    "ping", "lookup", "stats", "objects", "clients", "queue.qsize", "queue.stat",
    "queue.peek", "buf.get", "buf.len", "buf.items"})

# Where a method's RPC timeout sits in its params, for raw call()s.
_TIMEOUT_PARAM: Dict[str, int] = {
    "queue.put": 2, "queue.put_many": 2, "queue.get": 1, "queue.get_many": 2, "queue.join": 1}

#: A request queued by a pipeline: method, packed params, RPC wait, read-only.
PackedRequest = Tuple[str, bytes, Optional[float], bool]

_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()
_fork_lock = threading.Lock()  # one thread of a child replaces a Client's connection


def _reset_locks_in_child() -> None:
    """After fork: a lock another thread held in the parent stays held in the
    child, where no thread will ever release it."""
    global _fork_lock
    _fork_lock = threading.Lock()
    for client in list(_clients):
        client._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_in_child)


class Client:
    """A connection to qmgrd (see the module docstring for threads, fork and
    reconnecting). Connects at once; raises ``qmgr.ConnectionError`` or
    ``qmgr.AuthenticationError`` if it cannot."""

    def __init__(self, address: AddressLike = None, authkey: KeyLike = None,
                 timeout: Optional[float] = 30.0, reconnect: bool = False,
                 serializer: Optional[Serializer] = None, tls_ca: Optional[str] = None,
                 tls_cert: Optional[str] = None, tls_key: Optional[str] = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        # Several addresses: a connection goes to the first that answers, and
        # a reconnect begins with the one after (client/connection.c's rule).
        self.addresses: List[Address] = resolve_addresses(address)
        self.address: Address = self.addresses[0]  # the one connected to last
        self.timeout = timeout
        self.reconnect = reconnect
        self.serializer = check_serializer(serializer)
        self._key = resolve_authkey(authkey)
        self._tls = (tls_context(tls_ca, tls_cert, tls_key)
                     if any(a.tls for a in self.addresses) else None)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._lost: Optional[str] = None  # why the connection went, without reconnect
        self._conn: Optional[Connection] = self._connect(0)
        _clients.add(self)

    # -- lifetime ---------------------------------------------------------

    def close(self) -> None:
        """Closes the connection; later calls raise ``qmgr.ConnectionError``."""
        with self._lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<qmgr.Client %s%s>" % (self.address, " closed" if self._closed else "")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _after_fork(self) -> None:
        """First call in a forked child: forget the parent's connection."""
        with _fork_lock:
            if self._pid == os.getpid():
                return  # another thread of this child got here first
            self._lock = threading.Lock()
            self._drop()
            self._lost = None
            self._pid = os.getpid()

    def _connection(self) -> Connection:
        if self._conn is not None:
            return self._conn
        if self._closed:
            raise ConnectionError("%s: the client is closed" % (self.address,))
        if self._lost is not None:
            raise ConnectionError("%s: the connection was lost (%s)" % (self.address, self._lost))
        self._conn = self._connect(self.addresses.index(self.address) + 1)
        return self._conn

    def _connect(self, first: int) -> Connection:
        """Each address in turn from the first-th; only a refused or lost
        connection moves on (a wrong key is wrong at every front end)."""
        n = len(self.addresses)
        last: Optional[ConnectionError] = None
        for k in range(n):
            address = self.addresses[(first + k) % n]
            try:
                conn = Connection(address, self._key, self.timeout, self._tls)
            except ConnectionError as e:
                last = e
                continue
            self.address = address
            return conn
        assert last is not None  # a list holds at least one address
        raise none_answered(n, last)

    def _lose(self, error: Error) -> None:
        self._drop()
        if not self.reconnect:
            self._lost = error.message

    # -- calls ------------------------------------------------------------

    def _deadline(self, wait: Optional[float]) -> Optional[float]:
        """When to give up on a reply (see ``reply_wait``)."""
        seconds = reply_wait(wait, self.timeout)
        return None if seconds is None else time.monotonic() + seconds

    def _exchange(self, encode: Callable[[Connection], List[Tuple[int, bytes]]],
                  wait: Optional[float], read_only: bool) -> List[Reply]:
        """Sends the frames `encode` makes (in one sendall) and reads their
        replies, reconnecting as the reconnect policy allows. Holds the lock."""
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            conn = self._connection()
            if self.reconnect and conn.peer_closed():
                self._drop()
                conn = self._connection()
            try:
                return self._send_and_wait(conn, encode(conn), wait)
            except (ConnectionError, ProtocolError) as e:
                self._lose(e)
                if not (self.reconnect and read_only and isinstance(e, ConnectionError)):
                    raise
            conn = self._connection()
            try:
                return self._send_and_wait(conn, encode(conn), wait)
            except (ConnectionError, ProtocolError) as e:
                self._lose(e)
                raise

    def _send_and_wait(self, conn: Connection, requests: List[Tuple[int, bytes]],
                       wait: Optional[float]) -> List[Reply]:
        deadline = self._deadline(wait)
        conn.send(requests[0][1] if len(requests) == 1 else b"".join(r[1] for r in requests))
        return conn.wait_all([r[0] for r in requests], deadline)

    def _request(self, method: str, params: Sequence[Any], wait: Optional[float] = 0.0,
                 read_only: bool = False, transform: Optional[Transform] = None) -> Any:
        """One RPC; `wait` is the RPC's own timeout (None: it may block forever).
        Raises the daemon's error as its ``qmgr`` exception."""
        (error, result), = self._exchange(lambda c: [c.encode(method, params)], wait, read_only)
        if error is not None:
            raise error_from_wire(error)
        return result if transform is None else transform(result)

    def _request_many(self, requests: Sequence[PackedRequest]) -> List[Reply]:
        """Pipelined RPCs, sent together; the raw replies in request order."""
        read_only = all(r[3] for r in requests)
        return self._exchange(lambda c: [c.encode_packed(r[0], r[1]) for r in requests],
                              _longest(r[2] for r in requests), read_only)

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw RPC (docs/protocol.md §3): the result, or the daemon's error raised."""
        return self._request(method, list(params), call_wait(method, params),
                             method in READ_ONLY_METHODS)

    # -- objects ----------------------------------------------------------

    def queue(self, name: str) -> QueueProxy:
        """A proxy for the queue `name` (no round trip: a wrong name fails at
        the first call with ``qmgr.ENOENT``)."""
        return QueueProxy(self, name, self.serializer)

    def buf(self, name: str) -> BufProxy:
        """A proxy for the buf `name` (no round trip, as ``queue``)."""
        return BufProxy(self, name)

    def proxy(self, descriptor: Dict[str, Any]) -> Union[QueueProxy, BufProxy]:
        """The proxy for a descriptor (from ``lookup`` or an accessor)."""
        kind, name = descriptor_object(descriptor)
        return self.queue(name) if kind == "queue" else self.buf(name)

    def accessor(self, method: str) -> Union[QueueProxy, BufProxy]:
        """Calls an accessor method (``get_line_queue``) and returns the proxy
        for the object it names, as a BaseManager-registered typeid does."""
        return self.proxy(self._request(method, [], read_only=True))

    def lookup(self, name: str) -> Dict[str, Any]:
        """The descriptor of object `name`: ``{"name", "type", ...}``."""
        return self._request("lookup", [name], read_only=True)  # type: ignore[no-any-return]

    def ping(self) -> str:
        """``"pong"``: a round trip that touches nothing."""
        return self._request("ping", [], read_only=True)  # type: ignore[no-any-return]

    def stats(self) -> Dict[str, Any]:
        """The daemon's counters (version, uptime_s, connections, ops...)."""
        return self._request("stats", [], read_only=True)  # type: ignore[no-any-return]

    def objects(self) -> List[Dict[str, Any]]:
        """Every object's descriptor, with its statistics."""
        return self._request("objects", [], read_only=True)  # type: ignore[no-any-return]

    def clients(self) -> List[Dict[str, Any]]:
        """The daemon's connections: id, peer, since_s, ops, waiting_on."""
        return self._request("clients", [], read_only=True)  # type: ignore[no-any-return]

    def pipeline(self, raise_on_error: bool = True) -> "Pipeline":
        """Calls queued and sent together (see ``qmgr.pipeline``)."""
        from .pipeline import Pipeline
        return Pipeline(self, raise_on_error)


def call_wait(method: str, params: Sequence[Any]) -> Optional[float]:
    """The RPC's own wait for a raw call: its timeout param, if it has one."""
    at = _TIMEOUT_PARAM.get(method)
    wait = params[at] if at is not None and len(params) > at else 0.0
    if not (wait is None or isinstance(wait, (int, float))):
        wait = 0.0  # the daemon will refuse it (EBADREQ) at once
    return wait


def reply_wait(wait: Optional[float], timeout: Optional[float]) -> Optional[float]:
    """How long a reply may take: the RPC's own wait plus the client timeout
    (None: for ever)."""
    if wait is None or timeout is None:
        return None
    return wait + timeout


def none_answered(n: int, last: ConnectionError) -> ConnectionError:
    """The error when none of n addresses answered, last being the last one's."""
    if n == 1:
        return last
    error = ConnectionError("none of the %d addresses answered; the last: %s" % (n, last.message))
    error.__cause__ = last
    return error


def descriptor_object(descriptor: Dict[str, Any]) -> Tuple[str, str]:
    """An object descriptor's type ("queue" or "buf") and name."""
    kind, name = descriptor.get("type"), descriptor.get("name")
    if not isinstance(name, str) or kind not in ("queue", "buf"):
        raise ProtocolError("not an object descriptor: %.80r" % (descriptor,))
    return kind, name


def _longest(waits: Iterable[Optional[float]]) -> Optional[float]:
    """The longest of the RPC waits; None (forever) if any is None."""
    longest = 0.0
    for w in waits:
        if w is None:
            return None
        longest = max(longest, w)
    return longest


def connect(address: AddressLike = None, authkey: KeyLike = None, timeout: Optional[float] = 30.0,
            reconnect: bool = False, serializer: Optional[Serializer] = None,
            tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
            tls_key: Optional[str] = None) -> Client:
    """Connects to qmgrd. `address`: ``(host, port)``, ``"host:port"``,
    ``"[v6]:port"``, ``"tls://host:port"`` or ``"unix:/path"``; default
    ``$QMGR_ADDR``, else 127.0.0.1:50002. `authkey`: bytes or str; default the
    file ``$QMGR_AUTHKEY_FILE``, else the daemon's default key file. `timeout`
    bounds connecting and every reply beyond the call's own wait. For tls://
    addresses, `tls_ca` is the CA to trust (else ``$QMGR_TLS_CA``, else the
    system's), `tls_cert` and `tls_key` a client certificate (else
    ``$QMGR_TLS_CERT`` and ``$QMGR_TLS_KEY``); the certificate must name the
    host."""
    return Client(address, authkey, timeout, reconnect, serializer, tls_ca, tls_cert, tls_key)
