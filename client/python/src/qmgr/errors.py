"""Exceptions: one class per daemon error code, plus the client-side ones.

The daemon's codes (docs/protocol.md "Errors") map to classes named after them.
Where Python's own ``queue`` / ``BaseManager`` code raises a standard
exception, ours subclasses it too, so code written for a ``queue.Queue`` proxy
(``except queue.Empty:``) keeps working unchanged.
"""

from __future__ import annotations

import builtins
import queue
from typing import Dict, Optional, Type

__all__ = [
    "Error", "ENOENT", "ETYPE", "EFULL", "EEMPTY", "ETIMEOUT", "EBADREQ",
    "ENOMETHOD", "ETOOBIG", "ENOMEM", "EVALUE", "ENOKEY", "ENOTNUM", "ERANGE",
    "ESHUTDOWN", "ConnectionError", "AuthenticationError", "ProtocolError",
    "error_from_wire",
]


class Error(Exception):
    """Base of every qmgr error: ``code`` for programs, ``message`` for people.

    ``code`` is the daemon's positive error code, or None for client-side
    errors (which never travel on the wire).
    """

    code: Optional[int] = None

    def __init__(self, message: str = "", code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        # KeyError and OSError render their args their own way; ours is uniform.
        return "%s: %s" % (type(self).__name__, self.message) if self.message else type(self).__name__

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Picklable (multiprocessing ships exceptions between processes).
        return (type(self), (self.message, self.code))


class ENOENT(Error):
    """No object of that name in the daemon's configuration."""
    code = 1


class ETYPE(Error):
    """The object is of the other type (a queue used as a buf or back)."""
    code = 2


class EFULL(Error, queue.Full):
    """The queue is full and the timeout ran out (``queue.Full``)."""
    code = 3


class EEMPTY(Error, queue.Empty):
    """The queue is empty and the timeout ran out (``queue.Empty``)."""
    code = 4


class ETIMEOUT(Error, builtins.TimeoutError):
    """``join`` timed out."""
    code = 5


class EBADREQ(Error):
    """The daemon refused the parameters (wrong number or type)."""
    code = 6


class ENOMETHOD(Error):
    """Unknown method, e.g. an accessor the configuration does not declare."""
    code = 7


class ETOOBIG(Error):
    """The item is over the daemon's ``max_item``."""
    code = 8


class ENOMEM(Error):
    """The daemon's ``max_memory`` would be exceeded."""
    code = 9


class EVALUE(Error, ValueError):
    """``task_done`` called more times than there are unfinished items."""
    code = 10


class ENOKEY(Error, KeyError):
    """No such key in the buf (``KeyError``, as a dict proxy raises)."""
    code = 11


class ENOTNUM(Error):
    """``incr``/``incr_many`` on a value that is not a number."""
    code = 12


class ERANGE(Error):
    """Integer overflow: the result is outside signed 64 bits."""
    code = 13


class ESHUTDOWN(Error):
    """The daemon is shutting down."""
    code = 14


class ConnectionError(Error, builtins.ConnectionError):
    """Cannot connect, the connection was lost, or no reply in time.

    Also a built-in ``ConnectionError``, so generic network handling catches it.
    """


class AuthenticationError(Error):
    """The handshake failed: the server refused our key, or it does not hold it."""


class ProtocolError(Error):
    """The peer broke the protocol (bad frame, garbage); the connection is closed."""


_BY_CODE: Dict[int, Type[Error]] = {
    cls.code: cls
    for cls in (ENOENT, ETYPE, EFULL, EEMPTY, ETIMEOUT, EBADREQ, ENOMETHOD, ETOOBIG,
                ENOMEM, EVALUE, ENOKEY, ENOTNUM, ERANGE, ESHUTDOWN)
    if cls.code is not None
}


def error_from_wire(error: object) -> Error:
    """The exception for a response's ``error`` field (``[code, message]``).

    A code this client does not know (a newer daemon) becomes a plain
    ``Error`` carrying it, rather than a protocol failure.
    """
    if (not isinstance(error, (list, tuple)) or len(error) != 2
            or not isinstance(error[0], int) or not isinstance(error[1], str)):
        return ProtocolError("malformed error in a response: %r" % (error,))
    code, message = error
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else Error(message, code)
