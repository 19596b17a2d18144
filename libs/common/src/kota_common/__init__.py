"""Kota's shared plumbing."""

import os

# grpcio >= 1.80 can crash (SIGABRT, "epoll_wait error: Bad file descriptor") a process that starts a subprocess
# while its channels or server are live, when gRPC's fork support is on (grpc/grpc#43055). Kota's services start
# children only with fork+exec (relays, dispatchers, ingest workers), which need no fork support. Set before grpc
# is first imported, and inherited by every child process.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
