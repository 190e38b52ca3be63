"""Length-prefixed JSON messages over raw file descriptors, for the programs that run in a sandbox.

The fork server (`forkserver.py`) and the code-test harness (`harness.py`) both run under the
system interpreter inside bubblewrap, where llmgym cannot be imported, and both speak the same
framing: a 4-byte big-endian length, then a UTF-8 JSON object. Their sources are therefore sent
with this file's source in front (`pool.with_wire`), rather than each keeping a copy of these helpers.

Reads are raw `os.read` calls of exactly what is asked: a buffered reader could read ahead into
memory that a process forked later would inherit (the harness forks its solution process before
it reads the tests).
"""

import json
import os
import struct


def read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)


def send_message(fd, obj):
    data = json.dumps(obj).encode("utf-8", "surrogatepass")
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data):]


def recv_message(fd, limit=None):
    (n,) = struct.unpack(">I", read_exact(fd, 4))
    if limit is not None and n > limit:
        raise ValueError("message too large")
    return json.loads(read_exact(fd, n))

