"""What every Python reference server shares: the contract's environment and
the few byte strings of the protocol. Everything about concurrency stays in
each server's own file, where the reader should see it."""
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.parse

MAX_LINE = 65536  # bytes before the LF, the CR included
TOO_LONG = b"error: line too long\n"
MAX_BODY = 1 << 20  # the largest upstream body a server accepts
POOL_SIZE = 1024  # idle upstream connections kept under UPSTREAM_CLIENT=pooled
DRAIN_SECONDS = 1.0  # after too-long: how long to drop what the client still sends
MAX_WORK = 1000000  # the largest N of a work line (v1.2)
WORK_ERROR = b"error: work: want a decimal number from 0 to 1000000\n"
MAX_IN_PROGRESS = 64  # requests of one connection in progress before its server stops reading it (v1.2)


class UpstreamFailure(Exception):
    """An upstream answer that the contract turns into an error line."""


class Config:
    def __init__(self, name):
        self.name = name
        self.port = self._int("PORT", 7000)
        self.mode = os.environ.get("MODE", "echo") or "echo"
        self.upstream = (os.environ.get("UPSTREAM_URL") or "http://upstream:8080").rstrip("/")
        self.timeout = self._int("UPSTREAM_TIMEOUT_MS", 5000) / 1000.0
        self.client = os.environ.get("UPSTREAM_CLIENT", "pooled") or "pooled"
        if self.client not in ("pooled", "per-request"):
            self.fail("UPSTREAM_CLIENT=%r: want per-request or pooled" % self.client)
        if self.mode not in ("echo", "fetch", "work"):
            self.fail("MODE=%r: want echo, fetch or work" % self.mode)
        if self.timeout <= 0:
            self.fail("UPSTREAM_TIMEOUT_MS must be positive")
        if not self.upstream.startswith(("http://", "https://")):
            self.fail("UPSTREAM_URL=%r: want an http:// URL" % self.upstream)

    def _int(self, key, default):
        value = os.environ.get(key)
        if not value:
            return default
        try:
            return int(value)
        except ValueError:
            self.fail("%s=%r: not a number" % (key, value))

    def fail(self, message):
        print("%s: %s" % (self.name, message), file=sys.stderr)
        sys.exit(2)

    @property
    def pooled(self):
        return self.client == "pooled"

    def announce(self):
        client = ", upstream client %s" % self.client if self.mode == "fetch" else ""
        print("%s: mode %s%s, listening on port %d" % (self.name, self.mode, client, self.port), flush=True)

    def translate_url(self, payload):
        """The upstream URL for payload (bytes), percent-encoded form-style."""
        return self.upstream + "/translate?text=" + urllib.parse.quote_plus(payload)


def work(payload):
    """The work-mode answer to payload (bytes, v1.2): N chained SHA-256
    rounds over the payload's own bytes, N its decimal value. It computes
    on whatever runs the caller (the loop, the greenlet, the thread): that
    is the point of the mode."""
    if not (1 <= len(payload) <= 7 and payload.isdigit() and payload.isascii()) or int(payload) > MAX_WORK:
        return WORK_ERROR
    h = hashlib.sha256(payload).digest()
    for _ in range(int(payload)):
        h = hashlib.sha256(h).digest()
    return b"echo: " + h.hex().encode() + b"\n"


def read_body(resp, deadline, timeout):
    """The whole body of resp, an http.client.HTTPResponse, read as it
    arrives. Raises UpstreamFailure past MAX_BODY or past deadline
    (time.monotonic()), so that a dripping body cannot hold a fetch beyond
    UPSTREAM_TIMEOUT_MS: a blocking client's own timeout bounds each read,
    not the call. The deadline may be overshot by one read, itself bounded
    by the socket's timeout."""
    chunks, size = [], 0
    while True:
        if time.monotonic() > deadline:
            raise UpstreamFailure("timeout after %gs" % timeout)
        chunk = resp.read1(65536)  # returns what one read brings
        if not chunk:
            resp.read()  # marks the response complete, so its connection can serve again
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise UpstreamFailure("body over %d bytes" % MAX_BODY)
        chunks.append(chunk)


class Pool:
    """Kept-alive http.client connections to the upstream, at most POOL_SIZE
    idle, the most recently used reused first. The pooled client of the
    blocking-style servers (threads, gevent-monkey, gevent), so that between
    those three only the concurrency model differs.

    Why not urllib3, the pool under requests: measured in the base image, one
    warm fetch costs 190-230 us of CPU through urllib3 1.26 (PoolManager or
    HTTPConnectionPool) against 100-120 us through http.client, and at
    fetch-sweep c100 that difference, not the model, decided whether a
    threaded server kept up with the upstream. list.pop and list.append are
    atomic under the GIL and under gevent, so no lock is needed.

    With UPSTREAM_CLIENT=per-request nothing is kept: a connection per
    fetch. connection is the HTTPConnection class to open (gevent passes one
    whose socket is gevent's). fetch() returns (status, body) or raises: a
    refused or reset connection, a timeout, UpstreamFailure."""

    def __init__(self, config, connection=http.client.HTTPConnection):
        url = urllib.parse.urlsplit(config.upstream)
        self.host, self.port, self.prefix = url.hostname, url.port or 80, url.path
        self.config, self.connection = config, connection
        self.idle = []

    def _open(self):
        conn = self.connection(self.host, self.port, timeout=self.config.timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def fetch(self, data, deadline):
        target = self.prefix + "/translate?text=" + urllib.parse.quote_plus(data)
        try:
            conn, reused = self.idle.pop(), True  # never filled when per-request
        except IndexError:
            conn, reused = self._open(), False
        try:
            try:
                conn.request("GET", target)
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if not reused:
                    raise
                conn.close()  # the upstream closed it while idle: once more, afresh
                conn = self._open()
                conn.request("GET", target)
                resp = conn.getresponse()
            body = read_body(resp, deadline, self.config.timeout)
            if self.config.pooled and not resp.will_close and len(self.idle) < POOL_SIZE:
                self.idle.append(conn)
                conn = None
            return resp.status, body
        finally:
            if conn is not None:
                conn.close()  # half read, failed or not kept alive: it cannot serve again


def payload(line):
    """The payload of a request line: without its LF and one CR before it."""
    line = line[:-1]
    return line[:-1] if line.endswith(b"\r") else line


def echo(data):
    return b"echo: " + data + b"\n"


def upstream_error(detail):
    detail = str(detail).replace("\r", " ").replace("\n", " ")
    return ("error: upstream: %s\n" % detail).encode("utf-8", "replace")


def answer(status, body):
    """The answer line for an upstream reply: echo on 2xx, else an error."""
    if not 200 <= status <= 299:
        return upstream_error("status %d" % status)
    body = body.rstrip(b"\r\n")
    if b"\n" in body:
        return upstream_error("body holds a line break")
    return echo(body)
