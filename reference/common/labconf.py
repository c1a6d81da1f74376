"""What every Python reference server shares: the contract's environment and
the few byte strings of the protocol. Everything about concurrency stays in
each server's own file, where the reader should see it."""
import os
import sys
import urllib.parse

MAX_LINE = 65536  # bytes before the LF, the CR included
TOO_LONG = b"error: line too long\n"


class Config:
    def __init__(self, name):
        self.name = name
        self.port = self._int("PORT", 7000)
        self.mode = os.environ.get("MODE", "echo") or "echo"
        self.upstream = (os.environ.get("UPSTREAM_URL") or "http://upstream:8080").rstrip("/")
        self.timeout = self._int("UPSTREAM_TIMEOUT_MS", 5000) / 1000.0
        if self.mode not in ("echo", "fetch"):
            self.fail("MODE=%r: want echo or fetch" % self.mode)
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

    def announce(self):
        print("%s: mode %s, listening on port %d" % (self.name, self.mode, self.port), flush=True)

    def translate_url(self, payload):
        """The upstream URL for payload (bytes), percent-encoded form-style."""
        return self.upstream + "/translate?text=" + urllib.parse.quote_plus(payload)


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
