"""twisted: a LineReceiver whose fetches are Deferreds with callbacks (the
demo's twistedecho2, on Agent and readBody since getPage is gone).

Callbacks may fire in any order; each request takes a place in a queue and
answers leave from its head, so they go out in request order.
"""
import collections
import os
import sys

from twisted.internet import protocol, reactor
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import LineReceiver
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from zope.interface import implementer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import MAX_LINE, TOO_LONG, Config, answer, echo, upstream_error  # noqa: E402

config = Config(os.environ.get("IMPL", "twisted"))
pool = HTTPConnectionPool(reactor, persistent=True)
pool.maxPersistentPerHost = 1024
agent = Agent(reactor, pool=pool)


def fetch(data):
    d = agent.request(b"GET", config.translate_url(data).encode("ascii"))
    d.addTimeout(config.timeout, reactor)

    def got_response(response):
        body = readBody(response)
        body.addCallback(lambda b: answer(response.code, b))
        return body

    d.addCallback(got_response)
    d.addErrback(lambda failure: upstream_error(failure.getErrorMessage()))
    return d


@implementer(IHalfCloseableProtocol)
class Echo(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def connectionMade(self):
        self.pending = collections.deque()  # [answer or None] in request order
        self.closing = False  # input ended or was too long

    def lineReceived(self, line):
        if self.closing:
            return
        data = line[:-1] if line.endswith(b"\r") else line
        if config.mode == "echo":
            self.queue(echo(data))
            return
        slot = [None]
        self.pending.append(slot)
        fetch(data).addCallback(self.fill, slot)

    def fill(self, text, slot):
        slot[0] = text
        self.flush()

    def queue(self, text):
        self.pending.append([text])
        self.flush()

    def flush(self):
        while self.pending and self.pending[0][0] is not None:
            self.transport.write(self.pending.popleft()[0])
        if self.closing and not self.pending:
            self.transport.loseConnection()

    def lineLengthExceeded(self, line):
        if not self.closing:
            self.queue(TOO_LONG)
            self.closing = True
            self.clearLineBuffer()
            self.flush()

    def readConnectionLost(self):  # the client half-closed: answer, then close
        self.closing = True
        self.flush()

    def writeConnectionLost(self):
        self.transport.loseConnection()


class Factory(protocol.ServerFactory):
    protocol = Echo


if __name__ == "__main__":
    reactor.listenTCP(config.port, Factory(), backlog=1024)
    config.announce()
    reactor.run()  # SIGTERM stops the reactor; the process exits 0
