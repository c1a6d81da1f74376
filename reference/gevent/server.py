"""gevent: a StreamServer with one greenlet per connection, and an explicitly
cooperative fetch: http.client over a gevent socket, no monkey-patching (the
idea of the demo's gevent_url_fetch). The code reads like the threaded server;
gevent's hub switches greenlets whenever one would block on a socket.

UPSTREAM_CLIENT=per-request opens a connection per fetch, as the demo did;
pooled keeps the kept-alive ones in a list (below). geventhttpclient, the
packaged pooled client, is not used: version 2.0.8 (bookworm) hands a
connection back to its pool when a timeout interrupts a body half read, and
the next fetch on it would read the rest of the old answer.
"""
import http.client
import os
import signal
import sys
import time
import urllib.parse

import gevent
import gevent.socket
from gevent.server import StreamServer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_LINE, POOL_SIZE, TOO_LONG, Config, answer, echo, payload, read_body, upstream_error,
)

config = Config("gevent")
upstream = urllib.parse.urlsplit(config.upstream)
idle = []  # pooled: kept-alive upstream connections, the most recently used last


class GeventHTTPConnection(http.client.HTTPConnection):
    """http.client, but its socket is gevent's: the one cooperative piece."""

    def connect(self):
        self.sock = gevent.socket.create_connection((self.host, self.port), self.timeout)
        self.sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)


def fetch(data):
    url = urllib.parse.urlsplit(config.translate_url(data))
    target = url.path + "?" + url.query
    reused = config.pooled and bool(idle)
    conn = idle.pop() if reused else GeventHTTPConnection(upstream.hostname, upstream.port or 80, timeout=config.timeout)
    try:
        with gevent.Timeout(config.timeout):  # the whole call, body included
            try:
                conn.request("GET", target)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                conn.close()  # the upstream closed it while idle: once more, afresh
                conn = GeventHTTPConnection(upstream.hostname, upstream.port or 80, timeout=config.timeout)
                conn.request("GET", target)
                resp = conn.getresponse()
            body = read_body(resp, time.monotonic() + config.timeout, config.timeout)
        if config.pooled and not resp.will_close and len(idle) < POOL_SIZE:
            idle.append(conn)
            conn = None
        return answer(resp.status, body)
    except gevent.Timeout:
        return upstream_error("timeout after %gs" % config.timeout)
    except Exception as e:  # refused, reset, too large, bad answer: all are upstream errors
        return upstream_error(e)
    finally:
        if conn is not None:
            conn.close()


def handle(sock, address):
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    lines = sock.makefile("rb")
    try:
        while True:
            line = lines.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    sock.sendall(TOO_LONG)
                    sock.shutdown(gevent.socket.SHUT_WR)
                    with gevent.Timeout(DRAIN_SECONDS, False):  # drop what still comes, then let go
                        while sock.recv(65536):
                            pass
                return  # end of input; a trailing partial line is no request
            data = payload(line)
            sock.sendall(fetch(data) if config.mode == "fetch" else echo(data))
    except OSError:
        pass  # a reset or vanished client ends only its own greenlet
    finally:
        lines.close()
        sock.close()


def main():
    server = StreamServer(("", config.port), handle, backlog=1024)

    def stop():
        server.close()
        os._exit(0)

    gevent.signal_handler(signal.SIGTERM, stop)
    config.announce()
    server.serve_forever()


if __name__ == "__main__":
    main()
