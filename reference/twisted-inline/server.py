"""twisted-inline: the twisted server written with @inlineCallbacks (the
demo's twistedecho3): the fetch reads top to bottom like blocking code, yet
every yield gives the reactor back.

Answers still leave in request order: each request takes a place in a queue.
"""
import collections
import os
import sys

from twisted.internet import defer, protocol, reactor

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "common")]  # in the image, labconf.py sits beside this file
from labconf import Config, answer, echo, upstream_error, work  # noqa: E402
from labtwisted import LineServer, make_agent, read_body  # noqa: E402

config = Config("twisted-inline")
agent = make_agent(reactor, config)


class Echo(LineServer):
    def connectionMade(self):
        super().connectionMade()
        self.pending = collections.deque()  # [answer or None] in request order

    def lineReceived(self, line):
        # Not itself @inlineCallbacks: a value returned from here would
        # make LineReceiver drop the connection.
        if not self.closing:
            self.respond(line[:-1] if line.endswith(b"\r") else line)
            self.track(len(self.pending))

    @defer.inlineCallbacks
    def respond(self, data):
        slot = [None]
        self.pending.append(slot)
        if config.mode == "echo":
            slot[0] = echo(data)
        elif config.mode == "work":
            slot[0] = work(data)  # computed on the reactor: nothing here yields
        else:
            deadline = reactor.seconds() + config.timeout  # the whole call, body included
            try:
                response = yield agent.request(b"GET", config.translate_url(data).encode("ascii")).addTimeout(
                    config.timeout, reactor)
                body = yield read_body(response).addTimeout(max(deadline - reactor.seconds(), 0), reactor)
                slot[0] = answer(response.code, body)
            except Exception as e:  # refused, timed out, reset, too large: all are upstream errors
                slot[0] = upstream_error(e)
        self.flush()

    def flush(self):
        while self.pending and self.pending[0][0] is not None:
            self.transport.write(self.pending.popleft()[0])
        if not self.pending:
            self.close_when_done()
        if not self.closing:
            self.track(len(self.pending))

    def answer_too_long(self, text):
        self.pending.append([text])
        self.flush()


class Factory(protocol.ServerFactory):
    protocol = Echo


if __name__ == "__main__":
    reactor.listenTCP(config.port, Factory(), backlog=1024)
    config.announce()
    reactor.run()
