"""threads: a thread per connection, blocking readline, urllib for fetch.

The style of the demo's threadecho2: the simplest code, the operating system
does the scheduling, and every connection costs a thread.
"""
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import MAX_LINE, TOO_LONG, Config, answer, echo, payload, upstream_error  # noqa: E402

config = Config(os.environ.get("IMPL", "threads"))


def fetch(data):
    try:
        with urllib.request.urlopen(config.translate_url(data), timeout=config.timeout) as resp:
            return answer(resp.status, resp.read())
    except urllib.error.HTTPError as e:
        return answer(e.code, b"")
    except Exception as e:  # refused, timed out, reset: all are upstream errors
        return upstream_error(getattr(e, "reason", e))


def handle(conn):
    with conn, conn.makefile("rb") as lines:
        while True:
            line = lines.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    conn.sendall(TOO_LONG)
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(1)
                    try:
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                return  # end of input; a trailing partial line is no request
            data = payload(line)
            conn.sendall(fetch(data) if config.mode == "fetch" else echo(data))


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
