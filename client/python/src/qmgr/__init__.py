"""qmgr: the Python client of qmgrd, the queue-manager daemon.

    import qmgr
    c = qmgr.connect(("127.0.0.1", 50002), authkey=b"secret")
    q = c.queue("line_queue"); q.put(b"batch"); q.get(timeout=1); q.task_done()
    c.buf("flow_buf").incr("status:200", 5)

or, for code written against ``multiprocessing.managers.BaseManager``::

    from qmgr import QueueManager
    QueueManager.register("get_line_queue")
    m = QueueManager(address=("127.0.0.1", 50002), authkey=b"secret"); m.connect()
    q = m.get_line_queue()

For asyncio programs, ``qmgr.aio`` has the same API, awaited, with any
number of coroutines sharing one connection.

Items are msgpack values (None, bool, int, float, str, bytes, list/tuple,
dict); anything else raises TypeError, nothing is pickled unless you pass
``serializer=(pickle.dumps, pickle.loads)`` — and pickle runs code when it
loads, so only do that when everyone who can put items is trusted.
"""

from .client import Client, connect
from .errors import (EBADREQ, EEMPTY, EFULL, ENOENT, ENOKEY, ENOMEM, ENOMETHOD, ENOTNUM, ERANGE,
                     ESHUTDOWN, ETIMEOUT, ETOOBIG, ETYPE, EVALUE, AuthenticationError,
                     ConnectionError, Error, ProtocolError)
from .manager import QueueManager
from .pipeline import Pipeline
from .proxies import BufProxy, QueueProxy

__version__ = "0.1.0"

__all__ = [
    "connect", "Client", "QueueManager", "QueueProxy", "BufProxy", "Pipeline",
    "Error", "ConnectionError", "AuthenticationError", "ProtocolError",
    "ENOENT", "ETYPE", "EFULL", "EEMPTY", "ETIMEOUT", "EBADREQ", "ENOMETHOD", "ETOOBIG",
    "ENOMEM", "EVALUE", "ENOKEY", "ENOTNUM", "ERANGE", "ESHUTDOWN",
]
