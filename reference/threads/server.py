"""threads: a thread per connection, blocking readline, and a blocking
upstream client.

The style of the demo's threadecho2: the simplest code, the operating system
does the scheduling, and every connection costs a thread. The upstream
client follows UPSTREAM_CLIENT: urllib with a new connection per fetch, as
the demo did (per-request), or urllib3's PoolManager, the pool under
requests and most of today's Python HTTP (pooled).
"""
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import urllib3

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_LINE, POOL_SIZE, TOO_LONG, Config, answer, echo, payload, read_body, upstream_error,
)

config = Config(os.environ.get("IMPL", "threads"))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # a 3xx is the upstream's answer (an error), not a second request


opener = urllib.request.build_opener(NoRedirect)
# One pool for the process; more than POOL_SIZE connections at once are
# opened and then dropped rather than waited for (block=False). Retries only
# cover a kept-alive connection the upstream closed meanwhile.
pool = urllib3.PoolManager(maxsize=POOL_SIZE, block=False, retries=urllib3.Retry(total=1, redirect=False, status=0))


def fetch(data):
    deadline = time.monotonic() + config.timeout
    try:
        if config.pooled:
            return fetch_pooled(data, deadline)
        with opener.open(config.translate_url(data), timeout=config.timeout) as resp:
            return answer(resp.status, read_body(resp, deadline, config.timeout))
    except urllib.error.HTTPError as e:
        return answer(e.code, b"")
    except Exception as e:  # refused, timed out, reset, too large: all are upstream errors
        return upstream_error(getattr(e, "reason", e))


def fetch_pooled(data, deadline):
    timeout = urllib3.Timeout(connect=config.timeout, read=config.timeout)
    resp = pool.request("GET", config.translate_url(data), preload_content=False, redirect=False, timeout=timeout)
    try:
        # urllib3 1.26 has no read1, and its read(n) waits for all n bytes;
        # the http.client response underneath reads as bytes arrive.
        body = read_body(resp._fp, deadline, config.timeout)
    except Exception:
        resp.close()  # half read: the connection cannot serve again
        raise
    finally:
        resp.release_conn()
    return answer(resp.status, body)


def handle(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn, conn.makefile("rb") as lines:
        while True:
            line = lines.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    conn.sendall(TOO_LONG)
                    conn.shutdown(socket.SHUT_WR)
                    drain(conn)
                return  # end of input; a trailing partial line is no request
            data = payload(line)
            conn.sendall(fetch(data) if config.mode == "fetch" else echo(data))


def drain(conn):
    """Drop what the client still sends, for at most DRAIN_SECONDS, so that
    closing on unread input does not reset the connection under the error
    line; then let go, whatever the client does."""
    end = time.monotonic() + DRAIN_SECONDS
    try:
        while (left := end - time.monotonic()) > 0:
            conn.settimeout(left)
            if not conn.recv(65536):
                return
    except OSError:
        pass


def main():
    listener = socket.create_server(("", config.port), backlog=1024, reuse_port=False)

    def stop(signum, frame):
        listener.close()
        os._exit(0)  # closes every connection with the process

    signal.signal(signal.SIGTERM, stop)
    config.announce()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=guard, args=(conn,), daemon=True).start()


def guard(conn):
    try:
        handle(conn)
    except OSError:
        pass  # a reset or vanished client affects only its own thread


if __name__ == "__main__":
    main()
