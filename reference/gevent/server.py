"""gevent: a StreamServer with one greenlet per connection, and an explicitly
cooperative fetch: http.client over a gevent socket, no monkey-patching (the
idea of the demo's gevent_url_fetch). The code reads like the threaded server;
gevent's hub switches greenlets whenever one would block on a socket.
"""
import http.client
import os
import signal
import sys
import urllib.parse

import gevent
import gevent.socket
from gevent.server import StreamServer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import MAX_LINE, TOO_LONG, Config, answer, echo, payload, upstream_error  # noqa: E402

config = Config("gevent")


class GeventHTTPConnection(http.client.HTTPConnection):
    """http.client, but its socket is gevent's: the one cooperative piece."""

    def connect(self):
        self.sock = gevent.socket.create_connection((self.host, self.port), self.timeout)


def fetch(data):
    url = urllib.parse.urlsplit(config.translate_url(data))
    conn = GeventHTTPConnection(url.hostname, url.port or 80, timeout=config.timeout)
    try:
        with gevent.Timeout(config.timeout):
            conn.request("GET", url.path + "?" + url.query)
            resp = conn.getresponse()
            return answer(resp.status, resp.read())
    except gevent.Timeout:
        return upstream_error("timeout after %gs" % config.timeout)
    except Exception as e:  # refused, reset, bad answer: all are upstream errors
        return upstream_error(e)
    finally:
        conn.close()


def handle(sock, address):
    lines = sock.makefile("rb")
    try:
        while True:
            line = lines.readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE:
                    sock.sendall(TOO_LONG)
                    sock.shutdown(gevent.socket.SHUT_WR)
                    with gevent.Timeout(1, False):
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
