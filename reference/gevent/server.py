"""gevent: a StreamServer with one greenlet per connection, and an explicitly
cooperative fetch: http.client over a gevent socket, no monkey-patching (the
idea of the demo's gevent_url_fetch). The code reads like the threaded server;
gevent's hub switches greenlets whenever one would block on a socket.

UPSTREAM_CLIENT=per-request opens a connection per fetch, as the demo did;
pooled keeps them alive in labconf.Pool, the threads server's pool, here
over gevent sockets. geventhttpclient, the packaged pooled client, is not
used: version 2.0.8 (bookworm) hands a connection back to its pool when a
timeout interrupts a body half read, and the next fetch on it would read the
rest of the old answer.
"""
import http.client
import os
import signal
import sys
import time

import gevent
import gevent.socket
from gevent.server import StreamServer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_LINE, TOO_LONG, Config, Pool, answer, echo, payload, upstream_error, work,
)

config = Config("gevent")
respond = work if config.mode == "work" else echo  # work mode computes here, where the handler runs


class GeventHTTPConnection(http.client.HTTPConnection):
    """http.client, but its socket is gevent's: the one cooperative piece."""

    def connect(self):
        self.sock = gevent.socket.create_connection((self.host, self.port), self.timeout)


pool = Pool(config, GeventHTTPConnection)


def fetch(data):
    try:
        with gevent.Timeout(config.timeout):  # the whole call, body included
            return answer(*pool.fetch(data, time.monotonic() + config.timeout))
    except gevent.Timeout:
        return upstream_error("timeout after %gs" % config.timeout)
    except Exception as e:  # refused, reset, too large, bad answer: all are upstream errors
        return upstream_error(e)


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
            sock.sendall(fetch(data) if config.mode == "fetch" else respond(data))
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
