"""eventlet: green threads the way eventlet's own documentation writes a
server. eventlet.listen and eventlet.serve spawn one green thread per
connection from a GreenPool; the code reads like the threaded server, and
eventlet's hub switches green threads whenever one would block on a socket.

The fetch uses eventlet's patched client: the standard library's http.client
imported through eventlet.import_patched, so its sockets are green, kept
alive in labconf.Pool (the pool of threads, gevent-monkey and gevent) under
UPSTREAM_CLIENT=pooled, and opened per fetch under per-request.
"""
import os
import signal
import sys
import time

import eventlet
from eventlet.green import socket

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_LINE, TOO_LONG, Config, Pool, answer, echo, payload, upstream_error, work,
)

config = Config("eventlet")
respond = work if config.mode == "work" else echo  # work mode computes here, where the handler runs
http_client = eventlet.import_patched("http.client")  # http.client over green sockets
pool = Pool(config, http_client.HTTPConnection)

# eventlet.serve's GreenPool holds 1,000 green threads by default, and a
# connection waits for a free one: the lab's c10k-idle step holds 10,000.
MAX_CONNECTIONS = 20000


def fetch(data):
    try:
        with eventlet.Timeout(config.timeout):  # the whole call, body included
            return answer(*pool.fetch(data, time.monotonic() + config.timeout))
    except eventlet.Timeout:
        return upstream_error("timeout after %gs" % config.timeout)
    except Exception as e:  # refused, reset, too large, bad answer: all are upstream errors
        return upstream_error(e)


def handle(sock, address):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lines = sock.makefile("rb")
    try:
        while True:
            line = lines.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    sock.sendall(TOO_LONG)
                    sock.shutdown(socket.SHUT_WR)
                    with eventlet.Timeout(DRAIN_SECONDS, False):  # drop what still comes, then let go
                        while sock.recv(65536):
                            pass
                return  # end of input; a trailing partial line is no request
            data = payload(line)
            sock.sendall(fetch(data) if config.mode == "fetch" else respond(data))
    except OSError:
        pass  # a reset or vanished client ends only its own green thread
    finally:
        lines.close()
        sock.close()


def main():
    server = eventlet.listen(("", config.port), backlog=1024)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # connections close with the process
    config.announce()
    eventlet.serve(server, handle, concurrency=MAX_CONNECTIONS)


if __name__ == "__main__":
    main()
