"""asyncio-uvloop: the asyncio server (../asyncio/server.py) unchanged, run
on uvloop's event loop, libuv under asyncio's API: the one line a reader of
the MagicStack benchmark adds. Only the loop differs between the two."""
import asyncio
import os
import sys

import uvloop

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(_here, "..", "asyncio"), _here]  # in the image, the asyncio server sits beside this file
import server as asyncio_server  # noqa: E402

asyncio_server.config.name = "asyncio-uvloop"
if hasattr(uvloop, "run"):  # uvloop 0.18 and later
    uvloop.run(asyncio_server.main())
else:  # bookworm's 0.17
    uvloop.install()
    asyncio.run(asyncio_server.main())
