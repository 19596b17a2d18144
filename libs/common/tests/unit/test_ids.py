"""Random ids drawn in blocks are still random version-4 UUIDs, never repeated across threads or a fork."""

import os
import threading
import uuid

from kota_common.ids import new_uuid, random_bytes


def test_a_new_uuid_is_a_random_version_4_uuid():
    ids = [new_uuid() for _ in range(10_000)]  # several blocks
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_threads_never_share_bytes():
    drawn: list[bytes] = []

    def draw():
        drawn.extend(random_bytes(16) for _ in range(1000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(drawn)) == 4000
    assert len(random_bytes(10_000)) == 10_000  # more than a block at once


def test_a_forked_child_draws_other_bytes_than_its_parent():
    random_bytes(16)  # the parent holds a partly used block
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, random_bytes(16))
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16)
    assert child != random_bytes(16)
