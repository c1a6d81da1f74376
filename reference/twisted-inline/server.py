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
from zope.interface import implementer

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import DRAIN_SECONDS, MAX_LINE, TOO_LONG, Config, answer, echo, upstream_error  # noqa: E402
from labtwisted import make_agent, read_body  # noqa: E402

config = Config("twisted-inline")
agent = make_agent(reactor, config)


@defer.inlineCallbacks
def fetch(data):
    deadline = reactor.seconds() + config.timeout  # the whole call, body included
    try:
        response = yield agent.request(b"GET", config.translate_url(data).encode("ascii")).addTimeout(
            config.timeout, reactor)
        body = yield read_body(response).addTimeout(max(deadline - reactor.seconds(), 0), reactor)
        return answer(response.code, body)
    except Exception as e:  # refused, timed out, reset, too large: all are upstream errors
        return upstream_error(e)


@implementer(IHalfCloseableProtocol)
class Echo(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.pending = collections.deque()  # Deferreds of answers, in request order
        self.closing = False
        self.too_long = False

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
            if self.too_long:
                # FIN now; drop what still comes for a while, then let go.
                self.transport.loseWriteConnection()
                reactor.callLater(DRAIN_SECONDS, self.transport.loseConnection)
            else:
                self.transport.loseConnection()

    def dataReceived(self, data):
        if not self.too_long:
            super().dataReceived(data)

    def lineLengthExceeded(self, line):
        if not self.closing:
            self.pending.append(defer.succeed(TOO_LONG))
            self.closing = self.too_long = True
            self.clearLineBuffer()
            self.flush()

    def readConnectionLost(self):
        self.closing, self.too_long = True, False
        self.flush()

    def writeConnectionLost(self):
        if not self.too_long:  # after too-long, our own FIN: the drain goes on
            self.transport.loseConnection()


class Factory(protocol.ServerFactory):
    protocol = Echo


if __name__ == "__main__":
    reactor.listenTCP(config.port, Factory(), backlog=1024)
    config.announce()
    reactor.run()
