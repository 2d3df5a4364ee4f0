"""Pipelines: many calls, one send, one wait (redis-py style).

    with client.pipeline() as p:
        p.queue("line_queue").put(b"x")
        p.buf("flow_buf").incr("status:200", 5)
    # sent at the end of the block; or: results = p.execute()

Calls on a pipeline's proxies return None at once; their values are packed
there and then (a value msgpack cannot carry raises TypeError at its call),
and ``execute()`` sends every request in one ``sendall`` and returns the
results in call order. The daemon may answer out of order (a parked get does
not hold back the rest); replies are matched by msgid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Tuple

import msgpack

from .client import READ_ONLY_METHODS
from .errors import Error, error_from_wire
from .proxies import BufProxy, QueueProxy, Transform

if TYPE_CHECKING:
    from .client import Client, PackedRequest

__all__ = ["Pipeline"]


class Pipeline:
    """Queued calls on one Client; not itself shared between threads."""

    def __init__(self, client: "Client", raise_on_error: bool = True) -> None:
        self._client = client
        self.raise_on_error = raise_on_error
        self._packer = msgpack.Packer(use_bin_type=True)
        self._requests: List["PackedRequest"] = []
        self._transforms: List[Optional[Transform]] = []

    def __len__(self) -> int:
        return len(self._requests)

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type: Optional[type], *exc: object) -> None:
        """Sends what was queued, unless the block raised (then nothing is sent)."""
        if exc_type is None and self._requests:
            self.execute()
        else:
            self.reset()

    def reset(self) -> None:
        """Drops the queued calls unsent."""
        self._requests.clear()
        self._transforms.clear()

    def queue(self, name: str) -> QueueProxy:
        return QueueProxy(self, name, self._client.serializer)

    def buf(self, name: str) -> BufProxy:
        return BufProxy(self, name)

    def call(self, method: str, params: Sequence[Any] = ()) -> None:
        """Queues a raw RPC (see ``Client.call``)."""
        self._request(method, list(params), 0.0, method in READ_ONLY_METHODS)

    def _request(self, method: str, params: List[Any], wait: Optional[float] = 0.0,
                 read_only: bool = False, transform: Optional[Transform] = None) -> None:
        self._requests.append((method, self._packer.pack(params), wait, read_only))
        self._transforms.append(transform)

    def execute(self, raise_on_error: Optional[bool] = None) -> List[Any]:
        """Sends the queued calls and returns their results in call order.

        A call the daemon refused is its exception object in the list, or,
        with raise_on_error (the pipeline's default unless given), the first
        such exception is raised once every reply is in. The pipeline is
        empty afterwards, whatever happened.
        """
        requests, transforms = self._requests, self._transforms
        self._requests, self._transforms = [], []
        if not requests:
            return []
        replies = self._client._request_many(requests)
        results = [_outcome(reply, t) for reply, t in zip(replies, transforms)]
        if self.raise_on_error if raise_on_error is None else raise_on_error:
            for r in results:
                if isinstance(r, Error):
                    raise r
        return results


def _outcome(reply: Tuple[Any, Any], transform: Optional[Transform]) -> Any:
    error, result = reply
    if error is not None:
        return error_from_wire(error)
    return result if transform is None else transform(result)
