"""The aria2 download backend: the native engine's interface, with aria2c doing the HTTP.

:class:`Aria2Fetcher` (``backend``) drives an :class:`Aria2Daemon` (``daemon``) over
JSON-RPC (``rpc``), following its downloads with a ``monitor``; aria2's errors are read
in ``failures``, its control files in ``controlfile``; finished files are checked and put
in place by ``verify``, local files copied by ``local``.
"""

from ferry.fetch.aria2.backend import Aria2Fetcher
from ferry.fetch.aria2.daemon import Aria2Daemon, DaemonOptions, find_binary
from ferry.fetch.aria2.rpc import Aria2RPC, RPCError, RPCUnavailable

__all__ = [
    "Aria2Daemon",
    "Aria2Fetcher",
    "Aria2RPC",
    "DaemonOptions",
    "RPCError",
    "RPCUnavailable",
    "find_binary",
]
