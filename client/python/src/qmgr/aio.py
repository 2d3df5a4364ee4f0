"""qmgr.aio: the client for asyncio programs.

    import asyncio, qmgr.aio

    async def main():
        async with qmgr.aio.connect(("127.0.0.1", 50002), authkey=b"secret") as c:
            q = c.queue("line_queue")
            await q.put(b"batch")
            item = await q.get(timeout=1)
            await q.task_done()
            await c.buf("flow_buf").incr("status:200", 5)

    asyncio.run(main())

Addresses, keys, TLS, values (msgpack only; ``serializer=`` for queue items),
errors and results are those of ``qmgr``; the proxies have the same methods,
awaited.

Sharing a connection: any number of tasks may use one Client at once. A call
writes its request at once, under a msgid of its own, and one reader task
hands each reply to the call it answers. The daemon answers out of order
(docs/protocol.md §3), so a get parked on an empty queue holds back no other
call on the connection. Leases (``redeliver = on``) and the daemon's
``max_waiters`` (parked calls per connection) belong to the connection, not to
a task: a ``task_done`` settles the connection's oldest lease, whichever task
got it.

Cancelling a call (``task.cancel()``, ``asyncio.wait_for``) does not withdraw
its request: the protocol has no way to. The connection stays consistent (the
reply, when it comes, is dropped, never handed to another call), but a
cancelled get stays parked in the daemon until its own timeout (for ever
without one), and an item that comes meanwhile is handed to it: on a
``redeliver = off`` queue that item is lost; on a ``redeliver = on`` queue it
stays leased to the connection and goes back to the head of the queue when
the connection closes (a ``task_done`` on the connection may settle it first,
as its oldest lease). To wait a bounded time, pass ``timeout=`` to get, so
that the daemon gives up itself and nothing is lost.

``timeout`` bounds connecting and every reply beyond the call's own wait, as
in ``qmgr``: a call without its reply in time raises ``qmgr.ConnectionError``
and the connection goes on (a daemon that reads nothing of what is written
for that long ends the connection).

Not here: reconnecting (a lost connection stays lost: every call raises
``qmgr.ConnectionError``; connect again), pipelines (calls gathered together
are already sent back to back), and use from another thread, event loop or
forked process than the one that connected.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import ItemsView, KeysView, ValuesView
from typing import (Any, AsyncIterator, Callable, Dict, Generator, Iterable, List, Mapping,
                    Optional, Sequence, Tuple, Union)

from ._address import (Address, AddressLike, KeyLike, cannot_connect, resolve_addresses,
                       resolve_authkey, tls_context, untrusted)
from ._wire import (FAILURE_FRAME, HANDSHAKE_MAX, MAX_FRAME, RECV_CHUNK, WELCOME_FRAME, Codec,
                    Reply, answer_challenge, check_welcome, frame_length, new_challenge, refused,
                    verify_proof)
from .client import call_wait, descriptor_object, none_answered, reply_wait
from .errors import (ENOKEY, AuthenticationError, ConnectionError, Error, ProtocolError,
                     error_from_wire)
from .manager import ManagerBase, accessor_named, check_no_arguments
from .proxies import (Number, QueueBase, Serializer, Transform, _is_full, _is_zero, _rpc_timeout,
                      check_serializer)

__all__ = ["connect", "Connecting", "Client", "QueueProxy", "BufProxy", "QueueManager"]

_MISSING: Any = object()


# -- frames and the handshake over a stream (docs/protocol.md §1-2) -------------

async def _read_frame(reader: asyncio.StreamReader, where: str, limit: int) -> bytes:
    try:
        n = frame_length(await reader.readexactly(4), where, limit)
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as e:
        raise ConnectionError("%s: the daemon closed the connection" % where) from e
    except OSError as e:
        raise ConnectionError("%s: connection lost: %s" % (where, e.strerror or e)) from e


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: bytes,
                     where: str) -> None:
    # Our challenge (step 4) goes with our answer (step 2): a round trip less.
    answer = answer_challenge(key, await _read_frame(reader, where, HANDSHAKE_MAX), where)
    nonce, challenge = new_challenge()
    writer.write(answer + challenge)
    try:
        verdict = await _read_frame(reader, where, HANDSHAKE_MAX)
    except ConnectionError as e:
        raise refused(where) from e
    check_welcome(verdict, where)
    try:
        verify_proof(key, nonce, await _read_frame(reader, where, HANDSHAKE_MAX), where)
    except AuthenticationError:
        writer.write(FAILURE_FRAME)
        raise
    writer.write(WELCOME_FRAME)


async def _open_stream(address: Address, key: bytes, timeout: Optional[float],
                       tls: Optional[ssl.SSLContext]
                       ) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream that has completed the handshake, all within timeout."""
    where = str(address)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    if address.path is not None:
        opening = asyncio.open_unix_connection(address.path, limit=RECV_CHUNK)
    elif address.tls:
        opening = asyncio.open_connection(address.host, address.port, limit=RECV_CHUNK,
                                          ssl=tls or tls_context(), server_hostname=address.host)
    else:
        opening = asyncio.open_connection(address.host, address.port, limit=RECV_CHUNK)
    try:
        reader, writer = await asyncio.wait_for(opening, timeout)
    except asyncio.TimeoutError as e:
        raise ConnectionError("cannot connect to %s: timed out" % where) from e
    except ssl.SSLCertVerificationError as e:
        raise untrusted(address, e) from e
    except OSError as e:
        raise cannot_connect(address, e) from e
    try:
        left = None if deadline is None else max(0.0, deadline - loop.time())
        await asyncio.wait_for(_handshake(reader, writer, key, where), left)
    except asyncio.TimeoutError as e:
        writer.close()
        raise ConnectionError("%s: no reply within the timeout" % where) from e
    except BaseException:
        writer.close()
        raise
    return reader, writer


def _expire(call: "asyncio.Future[Reply]", where: str) -> None:
    if not call.done():
        call.set_exception(ConnectionError("%s: no reply within the timeout" % where))


# -- the client -------------------------------------------------------------

class Client:
    """A connection to qmgrd shared by coroutines; made by ``connect()``
    (see the module docstring for sharing and cancelling)."""

    def __init__(self, address: AddressLike = None, authkey: KeyLike = None,
                 timeout: Optional[float] = 30.0, *, serializer: Optional[Serializer] = None,
                 tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive or None")
        self.addresses: List[Address] = resolve_addresses(address)
        self.address: Address = self.addresses[0]  # the one connected to
        self.timeout = timeout
        self.serializer = check_serializer(serializer)
        self._key = resolve_authkey(authkey)
        self._tls = (tls_context(tls_ca, tls_cert, tls_key)
                     if any(a.tls for a in self.addresses) else None)
        self._where = str(self.address)
        self._codec = Codec(self._where)
        self._writer: Optional[asyncio.StreamWriter] = None
        self._reader_task: Optional["asyncio.Task[None]"] = None
        self._drain_lock: Optional[asyncio.Lock] = None
        # msgid -> the call awaiting its reply; None once that call is gone
        # (cancelled, timed out): its reply is dropped when it comes.
        self._waiting: Dict[int, Optional["asyncio.Future[Reply]"]] = {}
        self._closed = False
        self._lost: Optional[Error] = None

    # -- lifetime ---------------------------------------------------------

    async def _open(self) -> "Client":
        """Connects to each address in turn until one answers (only a refused
        or lost connection moves on: a wrong key is wrong everywhere)."""
        if self._writer is not None or self._closed:
            raise RuntimeError("a qmgr.aio.Client connects once")
        last: Optional[ConnectionError] = None
        for address in self.addresses:
            try:
                reader, self._writer = await _open_stream(address, self._key, self.timeout, self._tls)
            except ConnectionError as e:
                last = e
                continue
            self.address, self._where = address, str(address)
            self._codec = Codec(self._where)
            self._drain_lock = asyncio.Lock()
            self._reader_task = asyncio.ensure_future(self._read_replies(reader))
            return self
        assert last is not None  # a list holds at least one address
        raise none_answered(len(self.addresses), last)

    async def close(self) -> None:
        """Closes the connection; calls still waiting and later calls raise
        ``qmgr.ConnectionError``."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None:
            return
        self._fail(ConnectionError("%s: the client is closed" % self._where))
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.wait([self._reader_task])
        try:
            await asyncio.wait_for(self._writer.wait_closed(), self.timeout)
        except asyncio.TimeoutError:
            self._writer.transport.abort()  # a daemon that reads no more: drop what is unsent
        except OSError:
            pass  # a peer already gone: closed all the same

    aclose = close

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return "<qmgr.aio.Client %s%s>" % (self.address, " closed" if self._closed else "")

    def _fail(self, error: Error, abort: bool = False) -> None:
        """The connection is gone: every waiting call raises (an error of its
        own), and so will later calls. The stream is closed once what is
        written is sent, or at once with `abort`."""
        if self._lost is None:
            self._lost = error
        waiting, self._waiting = self._waiting, {}
        for call in waiting.values():
            if call is not None and not call.done():
                own = type(error)(error.message)
                own.__cause__ = error
                call.set_exception(own)
        if self._writer is not None:
            if abort:
                self._writer.transport.abort()
            else:
                self._writer.close()

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        """The one reader: hands each reply to the call it answers."""
        try:
            while True:
                frame = await _read_frame(reader, self._where, MAX_FRAME)
                msgid, reply = self._codec.decode(frame)
                call = self._waiting.pop(msgid, _MISSING)
                if call is _MISSING:
                    raise ProtocolError("%s: a reply to no request (msgid %d)" % (self._where, msgid))
                if call is not None and not call.done():
                    call.set_result(reply)
        except Error as e:
            self._fail(e)

    # -- calls ------------------------------------------------------------

    def _open_writer(self) -> asyncio.StreamWriter:
        """The stream to write a request to; ConnectionError if there is none."""
        if self._closed:
            raise ConnectionError("%s: the client is closed" % self._where)
        if self._lost is not None:
            raise ConnectionError("%s: the connection was lost (%s)" % (self._where, self._lost.message))
        if self._writer is None:
            raise ConnectionError("%s: not connected: await connect()" % self._where)
        return self._writer

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        """Waits while the daemon reads what is written; if it has not within
        the client timeout, or the connection is lost, the connection fails
        (and with it every waiting call)."""
        assert self._drain_lock is not None
        async with self._drain_lock:  # Python 3.9 allows one drain() at a time
            try:
                await asyncio.wait_for(writer.drain(), self.timeout)
            except asyncio.TimeoutError:
                self._fail(ConnectionError("%s: send timed out" % self._where), abort=True)
            except OSError as e:
                self._fail(ConnectionError("%s: connection lost: %s" % (self._where, e.strerror or e)))

    async def _request(self, method: str, params: Sequence[Any], wait: Optional[float] = 0.0,
                       transform: Optional[Transform] = None) -> Any:
        """One RPC; `wait` is the RPC's own timeout (None: it may block for
        ever). Raises the daemon's error as its ``qmgr`` exception."""
        writer = self._open_writer()
        msgid, frame = self._codec.encode(method, params)  # TypeError: nothing is sent
        while msgid in self._waiting:  # a request of 2**32 calls ago is still unanswered
            msgid, frame = self._codec.encode(method, params)
        loop = asyncio.get_running_loop()
        call: "asyncio.Future[Reply]" = loop.create_future()
        self._waiting[msgid] = call
        timer: Optional[asyncio.TimerHandle] = None
        try:
            writer.write(frame)
            if writer.transport.get_write_buffer_size():
                await self._drain(writer)
            seconds = reply_wait(wait, self.timeout)
            if seconds is not None:
                timer = loop.call_later(seconds, _expire, call, self._where)
            error, result = await call
        finally:
            if timer is not None:
                timer.cancel()
            if self._waiting.get(msgid) is call:
                self._waiting[msgid] = None  # the call is gone: its reply will be dropped
            elif call.done() and not call.cancelled():
                call.exception()  # a failure set while this call was cancelled: seen
        if error is not None:
            raise error_from_wire(error)
        return result if transform is None else transform(result)

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """A raw RPC (docs/protocol.md §3): the result, or the daemon's error raised."""
        return await self._request(method, list(params), call_wait(method, params))

    # -- objects ----------------------------------------------------------

    def queue(self, name: str) -> "QueueProxy":
        """A proxy for the queue `name` (no round trip: a wrong name fails at
        the first call with ``qmgr.ENOENT``)."""
        return QueueProxy(self, name, self.serializer)

    def buf(self, name: str) -> "BufProxy":
        """A proxy for the buf `name` (no round trip, as ``queue``)."""
        return BufProxy(self, name)

    def proxy(self, descriptor: Dict[str, Any]) -> Union["QueueProxy", "BufProxy"]:
        """The proxy for a descriptor (from ``lookup`` or an accessor)."""
        kind, name = descriptor_object(descriptor)
        return self.queue(name) if kind == "queue" else self.buf(name)

    async def accessor(self, method: str) -> Union["QueueProxy", "BufProxy"]:
        """Calls an accessor method (``get_line_queue``) and returns the proxy
        for the object it names."""
        return self.proxy(await self._request(method, []))

    async def lookup(self, name: str) -> Dict[str, Any]:
        """The descriptor of object `name`: ``{"name", "type", ...}``."""
        return await self._request("lookup", [name])  # type: ignore[no-any-return]

    async def ping(self) -> str:
        """``"pong"``: a round trip that touches nothing."""
        return await self._request("ping", [])  # type: ignore[no-any-return]

    async def stats(self) -> Dict[str, Any]:
        """The daemon's counters (version, uptime_s, connections, ops...)."""
        return await self._request("stats", [])  # type: ignore[no-any-return]

    async def objects(self) -> List[Dict[str, Any]]:
        """Every object's descriptor, with its statistics."""
        return await self._request("objects", [])  # type: ignore[no-any-return]

    async def clients(self) -> List[Dict[str, Any]]:
        """The daemon's connections: id, peer, since_s, ops, waiting_on."""
        return await self._request("clients", [])  # type: ignore[no-any-return]


class Connecting:
    """What ``connect()`` returns: ``await`` it for the Client, or enter it
    (``async with connect(...) as c``) to have the Client closed at the end."""

    __slots__ = ("_client",)

    def __init__(self, client: Client) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, Client]:
        return self._client._open().__await__()

    async def __aenter__(self) -> Client:
        return await self._client._open()

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()


def connect(address: AddressLike = None, authkey: KeyLike = None, timeout: Optional[float] = 30.0,
            *, serializer: Optional[Serializer] = None, tls_ca: Optional[str] = None,
            tls_cert: Optional[str] = None, tls_key: Optional[str] = None) -> Connecting:
    """Connects to qmgrd: ``c = await connect(...)`` or ``async with
    connect(...) as c``. The arguments are those of ``qmgr.connect`` (no
    ``reconnect``); bad ones raise here, connecting errors at the await."""
    return Connecting(Client(address, authkey, timeout, serializer=serializer, tls_ca=tls_ca,
                             tls_cert=tls_cert, tls_key=tls_key))


# -- proxies ----------------------------------------------------------------

class QueueProxy(QueueBase):
    """A daemon queue for coroutines: the methods of ``qmgr.QueueProxy``
    (those of ``queue.Queue`` / ``JoinableQueue``, and the extras), awaited;
    the same exceptions (``qmgr.EFULL`` is a ``queue.Full``, ``qmgr.EEMPTY``
    a ``queue.Empty``)."""

    __slots__ = ("_client",)

    def __init__(self, client: Client, name: str, serializer: Optional[Serializer] = None) -> None:
        super().__init__(name, serializer)
        self._client = client

    def __repr__(self) -> str:
        return "<qmgr.aio.QueueProxy %r>" % self.name

    async def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Appends item, waiting for room in a bounded queue; ``qmgr.EFULL``
        if none came in time."""
        t = _rpc_timeout(block, timeout)
        await self._client._request("queue.put", [self.name, self._item(item), t], t)

    async def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Removes and returns the head, waiting for one; ``qmgr.EEMPTY`` if
        none came in time (prefer this timeout to cancelling: see the module
        docstring)."""
        t = _rpc_timeout(block, timeout)
        return await self._client._request("queue.get", [self.name, t], t, self._loads)

    async def put_nowait(self, item: Any) -> None:
        await self.put(item, False)

    async def get_nowait(self) -> Any:
        return await self.get(False)

    async def qsize(self) -> int:
        return await self._client._request("queue.qsize", [self.name])  # type: ignore[no-any-return]

    async def empty(self) -> bool:
        return await self._client._request("queue.qsize", [self.name],  # type: ignore[no-any-return]
                                           transform=_is_zero)

    async def full(self) -> bool:
        return await self._client._request("queue.stat", [self.name],  # type: ignore[no-any-return]
                                           transform=_is_full)

    async def task_done(self, n: int = 1) -> None:
        """Marks n gotten items done; ``qmgr.EVALUE`` (a ``ValueError``) if
        that is more than are unfinished."""
        await self._client._request("queue.task_done", [self.name, n])

    async def join(self, timeout: Optional[float] = None) -> None:
        """Waits until every item put is done; ``qmgr.ETIMEOUT`` (a
        ``TimeoutError``) if the timeout runs out first."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        await self._client._request("queue.join", [self.name, timeout], timeout)

    async def put_many(self, items: Iterable[Any], timeout: Optional[float] = None) -> int:
        """Appends items in order in one round trip; returns how many fitted
        (fewer only if the timeout ran out; ``qmgr.EFULL`` if none did)."""
        t = _rpc_timeout(True, timeout)
        batch = [self._item(i) for i in items]
        return await self._client._request("queue.put_many", [self.name, batch, t], t)  # type: ignore[no-any-return]

    async def get_many(self, max: int, block: bool = True, timeout: Optional[float] = None) -> List[Any]:
        """Removes 1 to max items in one round trip, waiting only for the first."""
        t = _rpc_timeout(block, timeout)
        return await self._client._request(  # type: ignore[no-any-return]
            "queue.get_many", [self.name, max, t], t, None if self._loads is None else self._items)

    async def peek(self, n: int = 1) -> List[Any]:
        """Up to n items from the head, left in the queue."""
        return await self._client._request(  # type: ignore[no-any-return]
            "queue.peek", [self.name, n], transform=None if self._loads is None else self._items)

    async def purge(self) -> int:
        """Removes every item; returns how many."""
        return await self._client._request("queue.purge", [self.name])  # type: ignore[no-any-return]

    async def stat(self) -> Dict[str, Any]:
        """size, maxsize, unfinished, bytes, getters, putters, puts, gets, redelivered."""
        return await self._client._request("queue.stat", [self.name])  # type: ignore[no-any-return]


class BufProxy:
    """A daemon buf for coroutines: the non-dunder methods of
    ``qmgr.BufProxy`` (a ``MutableMapping``), awaited, with ``set``,
    ``delete`` and ``len`` for item assignment, ``del`` and ``len()``;
    ``async for key in buf`` iterates a snapshot. ``keys``, ``values``,
    ``items`` and ``copy`` read one consistent snapshot; ``pop``,
    ``popitem``, ``setdefault`` and ``update`` are several calls, not atomic
    (as in ``qmgr``); ``incr`` and ``incr_many`` are the atomic way to count."""

    __slots__ = ("name", "_client")

    def __init__(self, client: Client, name: str) -> None:
        self.name = name
        self._client = client

    def __repr__(self) -> str:
        return "<qmgr.aio.BufProxy %r>" % self.name

    async def _getitem(self, key: str) -> Any:
        return await self._client._request("buf.get", [self.name, key])

    async def get(self, key: str, default: Any = None) -> Any:
        """The value of key, or default if there is none."""
        try:
            return await self._getitem(key)
        except ENOKEY:
            return default

    async def set(self, key: str, value: Any) -> None:
        await self._client._request("buf.set", [self.name, key, value])

    async def delete(self, key: str) -> None:
        """Removes key; ``qmgr.ENOKEY`` (a ``KeyError``) if there is none."""
        await self._client._request("buf.del", [self.name, key])

    async def len(self) -> int:
        return await self._client._request("buf.len", [self.name])  # type: ignore[no-any-return]

    async def copy(self) -> Dict[str, Any]:
        """Everything, as a dict: one consistent snapshot."""
        return await self._client._request("buf.items", [self.name])  # type: ignore[no-any-return]

    async def keys(self) -> KeysView:  # type: ignore[type-arg]
        return (await self.copy()).keys()

    async def values(self) -> ValuesView:  # type: ignore[type-arg]
        return (await self.copy()).values()

    async def items(self) -> ItemsView:  # type: ignore[type-arg]
        return (await self.copy()).items()

    async def _iter_keys(self) -> AsyncIterator[str]:
        for key in await self.copy():
            yield key

    def __aiter__(self) -> AsyncIterator[str]:
        return self._iter_keys()

    async def clear(self) -> None:
        """Removes everything in one atomic call."""
        await self._client._request("buf.clear", [self.name])

    async def incr(self, key: str, delta: Number = 1) -> Number:
        """Adds delta to key (a missing key starts at 0), atomically; returns
        the new value. ``qmgr.ENOTNUM`` if the value is not a number."""
        return await self._client._request("buf.incr", [self.name, key, delta])  # type: ignore[no-any-return]

    async def incr_many(self, deltas: Mapping[str, Number]) -> None:
        """``incr`` for several keys in one atomic call: all or nothing."""
        await self._client._request("buf.update", [self.name, dict(deltas)])

    async def drain(self) -> Dict[str, Any]:
        """Everything, removed atomically: what a periodic flusher wants."""
        return await self._client._request("buf.drain", [self.name])  # type: ignore[no-any-return]

    async def pop(self, key: str, default: Any = _MISSING) -> Any:
        """Removes key and returns its value (or default if there is none)."""
        try:
            value = await self._getitem(key)
        except ENOKEY:
            if default is _MISSING:
                raise
            return default
        await self.delete(key)
        return value

    async def popitem(self) -> Tuple[str, Any]:
        """Removes some (key, value) and returns it; ``KeyError`` if empty."""
        keys = list(await self.keys())
        if not keys:
            raise KeyError("popitem(): the buf %r is empty" % self.name)
        return keys[0], await self.pop(keys[0])

    async def setdefault(self, key: str, default: Any = None) -> Any:
        """The value of key, after setting it to default if there is none."""
        try:
            return await self._getitem(key)
        except ENOKEY:
            await self.set(key, default)
            return default

    async def update(self, other: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]] = (),
                     **kwds: Any) -> None:
        """Sets each key of other and kwds in turn (``incr_many`` is the atomic call)."""
        pairs = other.items() if isinstance(other, Mapping) else other
        for key, value in list(pairs) + list(kwds.items()):
            await self.set(key, value)


# -- the BaseManager API ------------------------------------------------------

class QueueManager(ManagerBase):
    """``qmgr.QueueManager`` for coroutines: ``register`` typeids as there,
    then ``await m.connect()`` (or ``async with QueueManager(...) as m``) and
    ``q = await m.get_line_queue()``."""

    def __init__(self, address: AddressLike = None, authkey: KeyLike = None,
                 serializer: Optional[Serializer] = None, timeout: Optional[float] = 30.0) -> None:
        self.address = address
        self._authkey = authkey
        self._serializer = serializer
        self._timeout = timeout
        self._client: Optional[Client] = None

    @staticmethod
    def _accessor_method(typeid: str) -> Callable[..., Any]:
        async def accessor(self: QueueManager, *args: Any, **kwds: Any) -> Union[QueueProxy, BufProxy]:
            check_no_arguments(typeid, args, kwds)
            return await self.client.accessor(typeid)
        return accessor_named(accessor, typeid)

    async def connect(self) -> None:
        """Connects to the daemon."""
        if self._client is None:
            self._client = await connect(self.address, self._authkey, self._timeout,
                                         serializer=self._serializer)

    @property
    def client(self) -> Client:
        """The underlying ``qmgr.aio.Client``."""
        if self._client is None:
            raise ConnectionError("not connected: await connect() first")
        return self._client

    async def shutdown(self) -> None:
        """Closes the connection (the daemon keeps running: it is shared)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> "QueueManager":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
