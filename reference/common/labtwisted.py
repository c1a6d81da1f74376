"""What both Twisted servers share: the contract's framing and ending of a
connection (LineServer), the upstream Agent for UPSTREAM_CLIENT, and a body
reader with the contract's size limit (readBody has none). The callback or
inlineCallbacks style stays in each server's own file."""
from twisted.internet import defer, protocol, reactor
from twisted.internet.interfaces import IHalfCloseableProtocol, IPushProducer
from twisted.protocols.basic import LineReceiver
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss
from zope.interface import implementer

from labconf import DRAIN_SECONDS, MAX_BODY, MAX_IN_PROGRESS, MAX_LINE, POOL_SIZE, TOO_LONG, UpstreamFailure


@implementer(IHalfCloseableProtocol, IPushProducer)
class LineServer(LineReceiver):
    """A LineReceiver that frames and ends connections as the contract says.
    A subclass keeps its answers in order, writes them in flush(), calls
    close_when_done() once none is pending, queues the too-long line in
    answer_too_long(), and calls track() with its requests in progress
    whenever that number changes.

    Backpressure (PROTOCOL.md v1.2) is Twisted's own: the protocol is its
    transport's streaming producer, so the transport pauses it (stops
    reading) while its write buffer is over its bufferSize (64 KiB, under
    the contract's 1 MiB) and resumes it once the buffer is written; track()
    pauses it too while MAX_IN_PROGRESS requests are unanswered. Reading
    goes on only when neither holds it."""

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.closing = False  # input ended or was too long
        self.too_long = False
        self.holds = set()  # why reading is paused: "writes", "requests"
        self.transport.registerProducer(self, True)

    def pauseProducing(self):  # the transport's write buffer is full
        self.hold("writes")

    def resumeProducing(self):  # the transport's write buffer is written
        self.release("writes")

    def track(self, in_progress):
        if in_progress >= MAX_IN_PROGRESS:
            self.hold("requests")
        else:
            self.release("requests")

    def hold(self, why):
        if not self.holds:
            LineReceiver.pauseProducing(self)
        self.holds.add(why)

    def release(self, why):
        if why in self.holds:
            self.holds.discard(why)
            if not self.holds:
                LineReceiver.resumeProducing(self)

    def close_when_done(self):
        if not self.closing:
            return
        # A registered producer keeps the transport from closing, and the
        # drain after too-long must read whatever held it.
        self.transport.unregisterProducer()
        if self.holds:
            self.holds.clear()
            self.transport.resumeProducing()
        if self.too_long:
            # FIN now; drop what still comes for a while, then let go.
            # Closing at once on unread input would reset the connection.
            self.transport.loseWriteConnection()
            reactor.callLater(DRAIN_SECONDS, self.transport.loseConnection)
        else:
            self.transport.loseConnection()

    def dataReceived(self, data):
        if not self.too_long:
            super().dataReceived(data)

    def lineLengthExceeded(self, line):
        if not self.closing:
            self.closing = self.too_long = True
            self.clearLineBuffer()
            self.answer_too_long(TOO_LONG)

    def readConnectionLost(self):  # the client half-closed: answer, then close
        self.closing, self.too_long = True, False
        self.flush()

    def writeConnectionLost(self):
        if not self.too_long:  # after too-long, our own FIN: the drain goes on
            self.transport.loseConnection()


def make_agent(reactor, config):
    """Agent never follows redirects (RedirectAgent would). pooled keeps up
    to POOL_SIZE idle connections; per-request closes each after its fetch."""
    pool = HTTPConnectionPool(reactor, persistent=config.pooled)
    pool.maxPersistentPerHost = POOL_SIZE
    return Agent(reactor, pool=pool)


class _Body(protocol.Protocol):
    def __init__(self, done):
        self.done, self.chunks, self.size = done, [], 0

    def dataReceived(self, data):
        if self.done.called:
            return
        self.size += len(data)
        if self.size > MAX_BODY:
            self.transport.stopProducing()  # drops the connection
            self.done.errback(UpstreamFailure("body over %d bytes" % MAX_BODY))
            return
        self.chunks.append(data)

    def connectionLost(self, reason):
        if self.done.called:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)


def read_body(response):
    """A Deferred of response's body, failing past MAX_BODY. Cancelling it
    (a timeout) drops the connection."""
    body = _Body(None)
    body.done = defer.Deferred(lambda _: body.transport.stopProducing())
    response.deliverBody(body)
    return body.done
