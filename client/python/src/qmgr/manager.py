"""``QueueManager``: the ``multiprocessing.managers.BaseManager`` client API.

Code written against a BaseManager serving a ``queue.Queue`` and a ``dict``
runs unchanged: register the typeids, ``connect()``, call them. The objects
live in qmgrd's configuration, not in this process, so ``register`` only
records the name (its other arguments are accepted for compatibility and
ignored), and there is no server to start here.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, Optional, Tuple, TypeVar, Union

from ._address import AddressLike, KeyLike
from .client import Client
from .errors import ConnectionError
from .pipeline import Pipeline
from .proxies import BufProxy, QueueProxy, Serializer

__all__ = ["QueueManager", "ManagerBase", "check_no_arguments", "accessor_named"]

_NO_SERVER = "the server is qmgrd: run qmgrd (see its README) and call connect()"


class ManagerBase:
    """What this QueueManager and ``qmgr.aio.QueueManager`` share: ``register``
    and the server-side methods that qmgrd stands in for."""

    _registry: ClassVar[Dict[str, None]] = {}

    @classmethod
    def register(cls, typeid: str, callable: Optional[Callable[..., Any]] = None,
                 proxytype: Any = None, exposed: Any = None, method_to_typeid: Any = None,
                 create_method: bool = True) -> None:
        """Makes `typeid` (an accessor the daemon's configuration declares,
        ``get_<name>`` by default) a method of this class. Only typeid and
        create_method matter; the rest describe a server-side object, which
        here is qmgrd's. Like BaseManager, a subclass registering leaves its
        parent unchanged."""
        if "_registry" not in cls.__dict__:
            cls._registry = dict(cls._registry)
        cls._registry[typeid] = None
        if create_method:
            setattr(cls, typeid, cls._accessor_method(typeid))

    @staticmethod
    def _accessor_method(typeid: str) -> Callable[..., Any]:
        raise NotImplementedError

    # -- what only a server-side manager does -------------------------------

    def start(self, initializer: Any = None, initargs: Any = ()) -> None:
        raise NotImplementedError(_NO_SERVER)

    def get_server(self) -> None:
        raise NotImplementedError(_NO_SERVER)

    def serve_forever(self) -> None:
        raise NotImplementedError(_NO_SERVER)


class QueueManager(ManagerBase):
    """Connects to qmgrd with BaseManager's API; each registered typeid
    becomes a method returning the proxy of the object its accessor names."""

    def __init__(self, address: AddressLike = None, authkey: KeyLike = None,
                 serializer: Optional[Serializer] = None, timeout: Optional[float] = 30.0,
                 reconnect: bool = False) -> None:
        self.address = address
        self._authkey = authkey
        self._serializer = serializer
        self._timeout = timeout
        self._reconnect = reconnect
        self._client: Optional[Client] = None

    @staticmethod
    def _accessor_method(typeid: str) -> Callable[..., Union[QueueProxy, BufProxy]]:
        def accessor(self: QueueManager, *args: Any, **kwds: Any) -> Union[QueueProxy, BufProxy]:
            check_no_arguments(typeid, args, kwds)
            return self.client.accessor(typeid)
        return accessor_named(accessor, typeid)

    # -- connection -------------------------------------------------------

    def connect(self) -> None:
        """Connects to the daemon (BaseManager.connect)."""
        if self._client is None:
            self._client = Client(self.address, self._authkey, self._timeout, self._reconnect,
                                  self._serializer)

    @property
    def client(self) -> Client:
        """The underlying ``qmgr.Client`` (for stats, pipelines, raw calls)."""
        if self._client is None:
            raise ConnectionError("not connected: call connect() first")
        return self._client

    def shutdown(self) -> None:
        """Closes the connection (the daemon keeps running: it is shared)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> "QueueManager":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def pipeline(self, raise_on_error: bool = True) -> Pipeline:
        return self.client.pipeline(raise_on_error)


def check_no_arguments(typeid: str, args: Tuple[Any, ...], kwds: Dict[str, Any]) -> None:
    if args or kwds:
        raise TypeError("%s() takes no arguments: the object is configured in qmgrd" % typeid)


F = TypeVar("F", bound=Callable[..., Any])


def accessor_named(accessor: F, typeid: str) -> F:
    """The accessor method of typeid, named and documented after it."""
    accessor.__name__ = accessor.__qualname__ = typeid
    accessor.__doc__ = "The proxy of the object the daemon's accessor %r names." % typeid
    return accessor
