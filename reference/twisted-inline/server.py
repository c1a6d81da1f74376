"""twisted-inline: the twisted server written with @inlineCallbacks (the
demo's twistedecho3): the fetch reads top to bottom like blocking code, yet
every yield gives the reactor back.

Answers still leave in request order: each request takes a place in a queue.
"""
import collections
import os
import sys

from twisted.internet import defer, protocol, reactor
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.protocols.basic import LineReceiver
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from zope.interface import implementer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import MAX_LINE, TOO_LONG, Config, answer, echo, upstream_error  # noqa: E402

config = Config("twisted-inline")
pool = HTTPConnectionPool(reactor, persistent=True)
pool.maxPersistentPerHost = 1024
agent = Agent(reactor, pool=pool)


@defer.inlineCallbacks
def fetch(data):
    try:
        d = agent.request(b"GET", config.translate_url(data).encode("ascii"))
        d.addTimeout(config.timeout, reactor)
        response = yield d
        body = yield readBody(response)
        return answer(response.code, body)
    except Exception as e:  # refused, timed out, reset: all are upstream errors
        return upstream_error(e)


@implementer(IHalfCloseableProtocol)
class Echo(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def connectionMade(self):
        self.pending = collections.deque()  # Deferreds of answers, in request order
        self.closing = False

    def lineReceived(self, line):
        # Not itself @inlineCallbacks: a value returned from here would
        # make LineReceiver drop the connection.
        if not self.closing:
            self.respond(line[:-1] if line.endswith(b"\r") else line)

    @defer.inlineCallbacks
    def respond(self, data):
        mine = defer.Deferred()
        self.pending.append(mine)
        text = echo(data) if config.mode == "echo" else (yield fetch(data))
        mine.callback(text)
        self.flush()

    def flush(self):
        while self.pending and self.pending[0].called:
            self.transport.write(self.pending.popleft().result)
        if self.closing and not self.pending:
            self.transport.loseConnection()

    def lineLengthExceeded(self, line):
        if not self.closing:
            self.pending.append(defer.succeed(TOO_LONG))
            self.closing = True
            self.clearLineBuffer()
            self.flush()

    def readConnectionLost(self):
        self.closing = True
        self.flush()

    def writeConnectionLost(self):
        self.transport.loseConnection()


class Factory(protocol.ServerFactory):
    protocol = Echo


if __name__ == "__main__":
    reactor.listenTCP(config.port, Factory(), backlog=1024)
    config.announce()
    reactor.run()
