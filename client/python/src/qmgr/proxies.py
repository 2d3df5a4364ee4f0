"""Proxies for the daemon's objects, with the API of BaseManager's proxies.

``QueueProxy`` has the methods (signatures and exceptions) of a proxy for a
``queue.Queue`` / ``JoinableQueue``; ``BufProxy`` is a ``MutableMapping``, like
the ``dict`` proxy a BaseManager hands out, plus atomic counters.

A proxy holds its caller (a ``Client``, or a ``Pipeline`` whose calls return
None and are sent later) and no state of its own, so proxies are cheap: make
one wherever convenient.
"""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, MutableMapping, ValuesView
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Protocol,
                    Tuple, Union)

__all__ = ["QueueProxy", "BufProxy", "QueueBase", "Serializer", "Transform", "check_serializer"]

#: ``(dumps, loads)`` applied to queue items: dumps(obj) -> bytes, loads(bytes) -> obj.
Serializer = Tuple[Callable[[Any], bytes], Callable[[bytes], Any]]
#: What a reply's result goes through before it reaches the caller.
Transform = Callable[[Any], Any]
Number = Union[int, float]


class Caller(Protocol):
    """What a proxy sends its calls through (``Client`` or ``Pipeline``)."""

    def _request(self, method: str, params: List[Any], wait: Optional[float] = 0.0,
                 read_only: bool = False, transform: Optional[Transform] = None) -> Any: ...


def check_serializer(serializer: Optional[Serializer]) -> Optional[Serializer]:
    """Validates ``serializer=`` early, not at the first put."""
    if serializer is None:
        return None
    if (not isinstance(serializer, tuple) or len(serializer) != 2
            or not all(callable(f) for f in serializer)):
        raise TypeError("serializer must be a (dumps, loads) tuple of callables")
    return serializer


def _rpc_timeout(block: bool, timeout: Optional[float]) -> Optional[float]:
    """The wire timeout for queue.Queue's (block, timeout): None blocks
    forever, 0 never blocks; negative is refused as queue.Queue does."""
    if not block:
        return 0
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return timeout


class QueueBase:
    """What the queue proxies of ``qmgr`` and ``qmgr.aio`` share: the name,
    and the serializer applied to items."""

    __slots__ = ("name", "_dumps", "_loads")

    def __init__(self, name: str, serializer: Optional[Serializer] = None) -> None:
        self.name = name
        self._dumps, self._loads = serializer if serializer is not None else (None, None)

    def _item(self, item: Any) -> Any:
        return item if self._dumps is None else self._dumps(item)

    def _items(self, items: List[Any]) -> List[Any]:
        return items if self._loads is None else [self._loads(i) for i in items]


class QueueProxy(QueueBase):
    """A daemon queue, used like a ``queue.Queue`` / ``JoinableQueue``."""

    __slots__ = ("_caller",)

    def __init__(self, caller: Caller, name: str, serializer: Optional[Serializer] = None) -> None:
        super().__init__(name, serializer)
        self._caller = caller

    def __repr__(self) -> str:
        return "<qmgr.QueueProxy %r>" % self.name

    # -- queue.Queue ------------------------------------------------------

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Appends item, waiting for room in a bounded queue; ``qmgr.EFULL``
        (a ``queue.Full``) if none came in time."""
        t = _rpc_timeout(block, timeout)
        self._caller._request("queue.put", [self.name, self._item(item), t], t)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """Removes and returns the head, waiting for one; ``qmgr.EEMPTY``
        (a ``queue.Empty``) if none came in time."""
        t = _rpc_timeout(block, timeout)
        return self._caller._request("queue.get", [self.name, t], t, transform=self._loads)

    def put_nowait(self, item: Any) -> None:
        self.put(item, False)

    def get_nowait(self) -> Any:
        return self.get(False)

    def qsize(self) -> int:
        return self._caller._request("queue.qsize", [self.name], read_only=True)  # type: ignore[no-any-return]

    def empty(self) -> bool:
        return self._caller._request("queue.qsize", [self.name], read_only=True,  # type: ignore[no-any-return]
                                     transform=_is_zero)

    def full(self) -> bool:
        return self._caller._request("queue.stat", [self.name], read_only=True,  # type: ignore[no-any-return]
                                     transform=_is_full)

    def task_done(self, n: int = 1) -> None:
        """Marks n gotten items done; ``qmgr.EVALUE`` (a ``ValueError``) if
        that is more than are unfinished."""
        self._caller._request("queue.task_done", [self.name, n])

    def join(self, timeout: Optional[float] = None) -> None:
        """Waits until every item put is done; ``qmgr.ETIMEOUT`` (a
        ``TimeoutError``) if the timeout runs out first. Unlike
        ``Queue.join`` it takes a timeout, as a remote wait should."""
        if timeout is not None and timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        self._caller._request("queue.join", [self.name, timeout], timeout)

    # -- extras -----------------------------------------------------------

    def put_many(self, items: Iterable[Any], timeout: Optional[float] = None) -> int:
        """Appends items in order in one round trip; returns how many fitted
        (fewer only if the timeout ran out; ``qmgr.EFULL`` if none did)."""
        t = _rpc_timeout(True, timeout)
        batch = [self._item(i) for i in items]
        return self._caller._request("queue.put_many", [self.name, batch, t], t)  # type: ignore[no-any-return]

    def get_many(self, max: int, block: bool = True, timeout: Optional[float] = None) -> List[Any]:
        """Removes 1 to max items in one round trip, waiting only for the first."""
        t = _rpc_timeout(block, timeout)
        return self._caller._request("queue.get_many", [self.name, max, t], t,  # type: ignore[no-any-return]
                                     transform=None if self._loads is None else self._items)

    def peek(self, n: int = 1) -> List[Any]:
        """Up to n items from the head, left in the queue."""
        return self._caller._request("queue.peek", [self.name, n], read_only=True,  # type: ignore[no-any-return]
                                     transform=None if self._loads is None else self._items)

    def purge(self) -> int:
        """Removes every item; returns how many."""
        return self._caller._request("queue.purge", [self.name])  # type: ignore[no-any-return]

    def stat(self) -> Dict[str, Any]:
        """size, maxsize, unfinished, bytes, getters, putters, puts, gets, redelivered."""
        return self._caller._request("queue.stat", [self.name], read_only=True)  # type: ignore[no-any-return]


def _is_zero(n: int) -> bool:
    return n == 0


def _is_full(stat: Dict[str, Any]) -> bool:
    return bool(stat["maxsize"]) and stat["size"] >= stat["maxsize"]


class BufProxy(MutableMapping):  # type: ignore[type-arg]
    """A daemon buf: a ``MutableMapping`` of str keys to msgpack values.

    Iteration, ``keys()``, ``values()`` and ``items()`` read one consistent
    snapshot (one round trip). ``buf[k] += n`` is a read then a write, not
    atomic: concurrent writers lose updates, as with a BaseManager dict proxy.
    ``incr`` and ``incr_many`` are the atomic way to count.
    """

    __slots__ = ("name", "_caller")

    def __init__(self, caller: Caller, name: str) -> None:
        self.name = name
        self._caller = caller

    def __repr__(self) -> str:
        return "<qmgr.BufProxy %r>" % self.name

    def __getitem__(self, key: str) -> Any:
        return self._caller._request("buf.get", [self.name, key], read_only=True)

    def __setitem__(self, key: str, value: Any) -> None:
        self._caller._request("buf.set", [self.name, key, value])

    def __delitem__(self, key: str) -> None:
        self._caller._request("buf.del", [self.name, key])

    def __len__(self) -> int:
        return self._caller._request("buf.len", [self.name], read_only=True)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self.copy())

    def copy(self) -> Dict[str, Any]:
        """Everything, as a dict: one consistent snapshot."""
        return self._caller._request("buf.items", [self.name], read_only=True)  # type: ignore[no-any-return]

    def keys(self) -> KeysView:  # type: ignore[type-arg]
        return self.copy().keys()

    def values(self) -> ValuesView:  # type: ignore[type-arg]
        return self.copy().values()

    def items(self) -> ItemsView:  # type: ignore[type-arg]
        return self.copy().items()

    def clear(self) -> None:
        """Removes everything in one atomic call."""
        self._caller._request("buf.clear", [self.name])

    def incr(self, key: str, delta: Number = 1) -> Number:
        """Adds delta to key (a missing key starts at 0), atomically; returns
        the new value. ``qmgr.ENOTNUM`` if the value is not a number."""
        return self._caller._request("buf.incr", [self.name, key, delta])  # type: ignore[no-any-return]

    def incr_many(self, deltas: Mapping[str, Number]) -> None:
        """``incr`` for several keys in one atomic call: all or nothing."""
        self._caller._request("buf.update", [self.name, dict(deltas)])

    def drain(self) -> Dict[str, Any]:
        """Everything, removed atomically: what a periodic flusher wants."""
        return self._caller._request("buf.drain", [self.name])  # type: ignore[no-any-return]
