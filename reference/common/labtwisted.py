"""What both Twisted servers share: the upstream Agent for UPSTREAM_CLIENT
and a body reader with the contract's size limit (readBody has none). The
callback or inlineCallbacks style stays in each server's own file."""
from twisted.internet import defer, protocol
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http import PotentialDataLoss

from labconf import MAX_BODY, POOL_SIZE, UpstreamFailure


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
