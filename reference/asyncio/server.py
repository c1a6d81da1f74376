"""asyncio: the standard library's answer the demo could not show. Streams
(start_server, readuntil) with one coroutine per connection; the fetch is a
small HTTP/1.1 client on the same streams, since the standard library has no
asyncio HTTP client.
"""
import asyncio
import os
import signal
import sys
import urllib.parse

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import MAX_LINE, TOO_LONG, Config, answer, echo, payload, upstream_error  # noqa: E402

config = Config("asyncio")


async def http_get(url):
    """GET url over asyncio streams; returns (status, body)."""
    parts = urllib.parse.urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        target = parts.path + "?" + parts.query
        writer.write(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, parts.netloc)).encode("ascii"))
        status = int((await reader.readline()).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                body += await reader.readexactly(size)
                await reader.readline()
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
        return status, body
    finally:
        writer.close()


async def fetch(data):
    try:
        status, body = await asyncio.wait_for(http_get(config.translate_url(data)), config.timeout)
        return answer(status, body)
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
                try:
                    await asyncio.wait_for(reader.read(-1), 1)
                except (asyncio.TimeoutError, asyncio.LimitOverrunError, OSError):
                    pass
                break
            data = payload(line)
            writer.write(await fetch(data) if config.mode == "fetch" else echo(data))
            await writer.drain()
    except OSError:
        pass  # a reset or vanished client ends only its own coroutine
    finally:
        writer.close()


async def main():
    server = await asyncio.start_server(handle, port=config.port, limit=MAX_LINE, backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    config.announce()
    async with server:
        await stop.wait()
    os._exit(0)  # connections close with the process


if __name__ == "__main__":
    asyncio.run(main())
