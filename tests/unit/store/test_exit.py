"""A process that used obstore exits cleanly, however soon after its last request.

Without the exit guard in ``cloudfs.store.obstore_backend`` (``_guard_exit``) about one
such process in ten died with SIGABRT at exit on this machine: obstore's runtime thread
asked for the GIL during interpreter finalization.  The script below is the smallest
reproduction found (3–4 aborts in 40 runs without the guard, none in 40 with it): 2,000
gets through obstore's own calls, then exit at once.  Each run must exit 0.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import asyncio, obstore
from cloudfs.store.obstore_backend import ObstoreStore
native = ObstoreStore.memory()._reader  # constructing a store installs the guard
async def main():
    await obstore.put_async(native, "k", b"x" * 1000)
    async def one():
        result = await obstore.get_async(native, "k")
        await result.bytes_async()
    await asyncio.gather(*(one() for _ in range(2000)))
asyncio.run(main())
"""


def test_processes_exit_cleanly_right_after_their_last_request() -> None:
    for _ in range(20):
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
