"""gevent-prefork: the gevent server (../gevent/server.py, its handler
unchanged) in one process per core the container may use, each with its own
listening socket on the same port: SO_REUSEPORT, so the kernel spreads new
connections over the processes and no process hands connections to
another. This is how a gevent service uses more than one core (gunicorn's
gevent workers do the same with one shared socket).

The first process only forks the workers and waits. A worker that dies
takes the server with it, as a crash takes the single-process server, so a
crash is seen, not hidden behind the workers left. Each worker has its own
upstream pool (labconf.Pool, up to 1,024 connections each).
"""
import os
import signal
import sys

_here = os.path.dirname(os.path.abspath(__file__))
# In the image gevent's server.py and labconf.py sit beside this file.
sys.path[:0] = [_here, os.path.join(_here, "..", "gevent"), os.path.join(_here, "..", "common")]
import server  # noqa: E402  (reads and checks the settings: a bad MODE exits here, before any fork)


def worker():
    import gevent
    import gevent.socket
    from gevent.server import StreamServer

    sock = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_STREAM)
    sock.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_REUSEADDR, 1)
    sock.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_REUSEPORT, 1)
    sock.bind(("", server.config.port))
    sock.listen(1024)
    srv = StreamServer(sock, server.handle)

    def stop():
        srv.close()
        os._exit(0)

    gevent.signal_handler(signal.SIGTERM, stop)
    server.config.announce()
    srv.serve_forever()
    os._exit(0)


def main():
    workers = len(os.sched_getaffinity(0))
    pids = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            worker()
        pids.append(pid)
    print("gevent-prefork: %d worker process(es), one per core, SO_REUSEPORT" % workers, flush=True)

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    status = 0
    while pids:
        pid, wstatus = os.wait()
        pids.remove(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(wstatus)
            print("gevent-prefork: worker %d ended (%s); stopping" % (pid, "exit %d" % code if code >= 0 else "signal %d" % -code),
                  file=sys.stderr, flush=True)
            status = code if code > 0 else 1
            stop()
    sys.exit(status)


if __name__ == "__main__":
    main()
