"""Random identifiers (event ids, opaque references) drawn from the OS's cryptographic source in blocks.

`uuid.uuid4()` and `secrets.token_bytes()` make one system call each, and every system call lets go of the GIL:
on a busy service another thread takes it, and the caller waits to get it back. Intake makes five a
submission on its one writer thread; one 4 KiB draw now serves hundreds. Each thread has its own block, and a
forked child starts with none, so no two draws ever share bytes.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096
_local = threading.local()


def random_bytes(n: int) -> bytes:
    """n bytes from os.urandom, as if drawn one call each."""
    block, at = getattr(_local, "block", b""), getattr(_local, "at", 0)
    if at + n > len(block):
        block, at = os.urandom(max(_BLOCK, n)), 0
        _local.block = block
    _local.at = at + n
    return block[at : at + n]


def new_uuid() -> str:
    """A random (version 4, RFC 4122 variant) UUID as text, as str(uuid.uuid4()) makes it; formatted directly,
    since building a uuid.UUID checks and converts more than it costs to draw the bytes."""
    raw = bytearray(random_bytes(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant RFC 4122
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _forget_blocks_in_child() -> None:
    _local.__dict__.clear()


os.register_at_fork(after_in_child=_forget_blocks_in_child)
