"""asyncio: the standard library's answer the demo could not show. Streams
(start_server, readuntil) with one coroutine per connection; the fetch uses
aiohttp, asyncio's usual HTTP client, since the standard library has none.
UPSTREAM_CLIENT=pooled shares one kept-alive connector; per-request makes
the same connector close every connection after its fetch (force_close).
"""
import asyncio
import os
import signal
import sys

import aiohttp

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_BODY, MAX_LINE, TOO_LONG, Config, answer, echo, payload, upstream_error, work,
)

config = Config("asyncio")
respond = work if config.mode == "work" else echo  # work mode computes here, where the handler runs
session = None  # aiohttp.ClientSession, made on the running loop


def new_session():
    # limit=0: no cap on connections at once, as in every other server.
    # aiohttp has no cap on idle connections either (the others keep at most
    # POOL_SIZE); the lab never has more fetches at once than that.
    connector = aiohttp.TCPConnector(limit=0, force_close=not config.pooled)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=config.timeout),  # the whole call, body included
        auto_decompress=False,
    )


async def fetch(data):
    try:
        async with session.get(config.translate_url(data), allow_redirects=False) as resp:
            body = await resp.content.read(MAX_BODY + 1)
            while len(body) <= MAX_BODY and (more := await resp.content.read(MAX_BODY + 1 - len(body))):
                body += more
            if len(body) > MAX_BODY:
                resp.close()  # drop the connection rather than read the rest
                return upstream_error("body over %d bytes" % MAX_BODY)
            return answer(resp.status, body)
    except asyncio.TimeoutError:
        return upstream_error("timeout after %gs" % config.timeout)
    except Exception as e:  # refused, reset, bad answer: all are upstream errors
        return upstream_error(e or type(e).__name__)


async def handle(reader, writer):
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                break  # end of input; a trailing partial line is no request
            except asyncio.LimitOverrunError:
                writer.write(TOO_LONG)
                await writer.drain()
                writer.write_eof()
                await drain(reader)
                break
            data = payload(line)
            writer.write(await fetch(data) if config.mode == "fetch" else respond(data))
            await writer.drain()
    except OSError:
        pass  # a reset or vanished client ends only its own coroutine
    finally:
        writer.close()


async def drain(reader):
    """Drop what the client still sends, for at most DRAIN_SECONDS."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while await reader.read(65536):
                pass
    except (asyncio.TimeoutError, OSError):
        pass


async def main():
    global session
    session = new_session()
    server = await asyncio.start_server(handle, port=config.port, limit=MAX_LINE, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    config.announce()
    async with server:
        await stop.wait()
    os._exit(0)  # connections close with the process


if __name__ == "__main__":
    asyncio.run(main())
