"""twisted: a LineReceiver whose fetches are Deferreds with callbacks (the
demo's twistedecho2, on Agent since getPage is gone; its pool follows
UPSTREAM_CLIENT, see labtwisted.py).

Callbacks may fire in any order; each request takes a place in a queue and
answers leave from its head, so they go out in request order.
"""
import collections
import os
import sys

from twisted.internet import protocol, reactor

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import Config, answer, echo, upstream_error, work  # noqa: E402
from labtwisted import LineServer, make_agent, read_body  # noqa: E402

config = Config(os.environ.get("IMPL", "twisted"))
agent = make_agent(reactor, config)


def fetch(data):
    d = agent.request(b"GET", config.translate_url(data).encode("ascii"))

    def got_response(response):
        body = read_body(response)
        body.addCallback(lambda b: answer(response.code, b))
        return body

    d.addCallback(got_response)
    d.addTimeout(config.timeout, reactor)  # the whole call: cancels the body read too
    d.addErrback(lambda failure: upstream_error(failure.getErrorMessage()))
    return d


class Echo(LineServer):
    def connectionMade(self):
        super().connectionMade()
        self.pending = collections.deque()  # [answer or None] in request order

    def lineReceived(self, line):
        if self.closing:
            return
        data = line[:-1] if line.endswith(b"\r") else line
        if config.mode == "echo":
            self.queue(echo(data))
            return
        if config.mode == "work":
            self.queue(work(data))  # computed in the callback, on the reactor
            return
        slot = [None]
        self.pending.append(slot)
        fetch(data).addCallback(self.fill, slot)
        self.track(len(self.pending))

    def fill(self, text, slot):
        slot[0] = text
        self.flush()

    def queue(self, text):
        self.pending.append([text])
        self.flush()

    answer_too_long = queue

    def flush(self):
        while self.pending and self.pending[0][0] is not None:
            self.transport.write(self.pending.popleft()[0])
        if not self.pending:
            self.close_when_done()
        if not self.closing:
            self.track(len(self.pending))


class Factory(protocol.ServerFactory):
    protocol = Echo


if __name__ == "__main__":
    reactor.listenTCP(config.port, Factory(), backlog=1024)
    config.announce()
    reactor.run()  # SIGTERM stops the reactor; the process exits 0
