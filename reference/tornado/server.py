"""tornado: a TCPServer whose handle_stream coroutine serves one connection
on its IOStream, and Tornado's AsyncHTTPClient for the fetch.

Lines are split from IOStream.read_bytes(partial=True) here rather than read
with IOStream.read_until: read_until(max_bytes=...) closes the connection
itself when a line is too long (iostream.py: "Unsatisfiable read, closing
connection"), so the server could never write the contract's
`error: line too long`, and without max_bytes a line could grow without
bound.

IOStream has no half-close: when the client shuts down its side, IOStream
closes the whole socket as soon as it sees the end (it listens for it even
between reads), and drops what it still had to write, while the contract
wants every complete request answered. So answers go to the socket
directly, and a connection keeps a duplicate of its socket once an answer
might outlive the IOStream: before its first fetch (fetch mode), or when
the kernel will not take an answer at once (a pipelining client that reads
slowly); what follows goes out through asyncio's sock_sendall on the
duplicate. (A duplicate for every connection from the start would take
20,000 files at c10k-idle, the container's limit.)

The client is AsyncHTTPClient on its libcurl implementation
(CurlAsyncHTTPClient): Tornado's default, simple_httpclient, never keeps a
connection alive, so it could not be pooled. Under UPSTREAM_CLIENT=pooled
libcurl keeps connections alive (at most POOL_SIZE fetches at once); under
per-request every fetch asks curl for a fresh connection it will not reuse.
"""
import asyncio
import os
import signal
import socket
import sys

import pycurl
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.tcpserver import TCPServer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_BODY, MAX_LINE, POOL_SIZE, TOO_LONG, Config, answer, echo, upstream_error, work,
)

config = Config("tornado")
respond = work if config.mode == "work" else echo  # work mode computes here, where the handler runs
AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=POOL_SIZE)


def prepare_curl(curl):
    curl.setopt(pycurl.MAXFILESIZE, MAX_BODY)  # curl stops a larger body itself
    if not config.pooled:
        curl.setopt(pycurl.FRESH_CONNECT, 1)
        curl.setopt(pycurl.FORBID_REUSE, 1)


async def fetch(data):
    request = HTTPRequest(
        config.translate_url(data),
        follow_redirects=False,
        connect_timeout=config.timeout,
        request_timeout=config.timeout,  # the whole call, body included
        decompress_response=False,
        prepare_curl_callback=prepare_curl,
    )
    try:
        # raise_error=False returns a non-2xx answer (a redirect too) as a
        # response; what never got one still raises.
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except Exception as e:  # refused, reset, timed out, too large: curl's HTTP 599
        return upstream_error(e)
    if len(response.body) > MAX_BODY:
        return upstream_error("body over %d bytes" % MAX_BODY)
    return answer(response.code, response.body)


class LineServer(TCPServer):
    async def handle_stream(self, stream, address):
        stream.set_nodelay(True)
        rest = None  # the socket's duplicate, for answers after the client's half-close

        def keep():
            nonlocal rest
            if rest is None:
                rest = stream.socket.dup()
                rest.setblocking(False)  # as the original: one file description

        async def send(data):
            if rest is None:
                if stream.closed():
                    raise StreamClosedError()
                try:
                    sent = stream.socket.send(data)  # what the kernel takes now
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
                keep()
            await asyncio.get_running_loop().sock_sendall(rest, data)

        async def fetched(data):
            if not stream.closed():
                keep()
            return await fetch(data)

        pending = bytearray()
        try:
            while True:
                try:
                    pending += await stream.read_bytes(65536, partial=True)
                except StreamClosedError:
                    return  # end of input; a trailing partial line is no request
                start = 0
                while (end := pending.find(b"\n", start)) >= 0:
                    if end - start > MAX_LINE:
                        return await too_long(stream, send)
                    data = bytes(pending[start:end - 1 if pending[end - 1:end] == b"\r" else end])
                    start = end + 1
                    await send(await fetched(data) if config.mode == "fetch" else respond(data))
                del pending[:start]
                if len(pending) > MAX_LINE:
                    return await too_long(stream, send)
        except (StreamClosedError, OSError):
            pass  # a reset or vanished client ends only its own coroutine
        finally:
            stream.close()
            if rest is not None:
                rest.close()


async def too_long(stream, send):
    await send(TOO_LONG)
    if stream.closed():
        return
    stream.socket.shutdown(socket.SHUT_WR)
    try:  # drop what the client still sends, for at most DRAIN_SECONDS
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                await stream.read_bytes(65536, partial=True)
    except (asyncio.TimeoutError, StreamClosedError, OSError):
        pass


async def main():
    server = LineServer()
    server.listen(config.port, backlog=1024)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # connections close with the process
    config.announce()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
