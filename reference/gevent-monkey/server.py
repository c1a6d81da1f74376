from gevent import monkey; monkey.patch_all()  # noqa: E702  the one added line
# gevent-monkey: the threads server, unchanged, on greenlets (the demo's
# geventecho4). Everything below is ../threads/server.py, run as it is.
import os, runpy  # noqa: E401,E402
os.environ.setdefault("IMPL", "gevent-monkey")
runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "threads_server.py"), run_name="__main__")
