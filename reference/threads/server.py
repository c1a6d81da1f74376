"""threads: a thread per connection, blocking readline, and a blocking
upstream client.

The style of the demo's threadecho2: the simplest code, the operating system
does the scheduling, and every connection costs a thread. The upstream
client follows UPSTREAM_CLIENT: urllib with a new connection per fetch, as
the demo did (per-request), or http.client connections kept alive in a
shared pool (pooled; labconf.Pool says why not urllib3).
"""
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import (  # noqa: E402
    DRAIN_SECONDS, MAX_LINE, TOO_LONG, Config, Pool, answer, echo, payload, read_body, upstream_error, work,
)

config = Config(os.environ.get("IMPL", "threads"))
respond = work if config.mode == "work" else echo  # work mode computes here, where the handler runs


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None  # a 3xx is the upstream's answer (an error), not a second request


opener = urllib.request.build_opener(NoRedirect)
pool = Pool(config)


def fetch(data):
    deadline = time.monotonic() + config.timeout
    try:
        if config.pooled:
            return answer(*pool.fetch(data, deadline))
        with opener.open(config.translate_url(data), timeout=config.timeout) as resp:
            return answer(resp.status, read_body(resp, deadline, config.timeout))
    except urllib.error.HTTPError as e:
        return answer(e.code, b"")
    except Exception as e:  # refused, timed out, reset, too large: all are upstream errors
        return upstream_error(getattr(e, "reason", e))


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
            conn.sendall(fetch(data) if config.mode == "fetch" else respond(data))


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
        try:
            conn, _ = listener.accept()
        except OSError:  # out of descriptors, say: a moment, then accept again
            time.sleep(0.01)
            continue
        try:
            threading.Thread(target=guard, args=(conn,), daemon=True).start()
        except RuntimeError:  # can't start new thread: at the task limit
            conn.close()  # refuse this one, and keep serving the rest


def guard(conn):
    try:
        handle(conn)
    except OSError:
        pass  # a reset or vanished client affects only its own thread


if __name__ == "__main__":
    main()
