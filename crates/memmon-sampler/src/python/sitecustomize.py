"""memmon's tracemalloc hook, installed by `memmon run` through PYTHONPATH.

Python imports the first `sitecustomize` on sys.path at startup; memmon puts this file's private
directory first. The hook then:

1. runs the `sitecustomize` that would have run without it (a venv's, the distribution's), so the
   client behaves exactly as before;
2. when MEMMON_HOOK_DIR is set, starts tracemalloc and serves snapshots on the Unix socket
   `$MEMMON_HOOK_DIR/<pid>.sock`, one request at a time, from a daemon thread.

Protocol: memmon connects, sends one line (`snapshot\\n`), and reads one line of compact JSON:
`{"pid":N,"current":B,"peak":B,"sites":[["file.py:123",size,count],...]}` (top 10 by size).

The hook must never break the client: every failure is reported once on stderr, prefixed
`[memmon]`, and the hook goes quiet. Compatible with Python 3.8+.
"""

import os
import sys

_TOP = 10
_told = False


def _tell(what, err):
    """Reports a failure once; later failures are silent, so a broken hook cannot flood stderr."""
    global _told
    if _told:
        return
    _told = True
    try:
        sys.stderr.write("[memmon] tracemalloc hook disabled: %s: %s\n" % (what, err))
        sys.stderr.flush()
    except Exception:
        pass


def _chain(here):
    """Imports the next `sitecustomize` on sys.path (skipping this directory), as site.py would
    have without memmon; it is left in sys.modules under its own name so that client code that
    imports `sitecustomize` gets the real one."""
    import importlib.machinery
    import importlib.util

    def norm(p):
        return os.path.realpath(p or os.getcwd())

    path = [p for p in sys.path if isinstance(p, str) and norm(p) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    if spec.origin and norm(os.path.dirname(spec.origin)) == here:
        return
    mine = sys.modules.get("sitecustomize")
    module = importlib.util.module_from_spec(spec)
    # The chained module runs as `sitecustomize`, as it would without memmon.
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        # Its failure is its own (site.py would print it too); it must not stop memmon's part.
        sys.modules["sitecustomize"] = mine
        import traceback

        sys.stderr.write("Error in sitecustomize (chained by memmon):\n")
        traceback.print_exc()


class _Server:
    """The snapshot server of one process (a forked child starts its own)."""

    def __init__(self, directory):
        self.directory = directory
        self.listener = None
        self.path = None

    def start(self):
        import socket
        import threading

        self.path = os.path.join(self.directory, "%d.sock" % os.getpid())
        # A stale socket of the same PID is a previous image of this very process (exec).
        try:
            os.unlink(self.path)
        except OSError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(4)
        self.listener = listener
        thread = threading.Thread(target=self.serve, name="memmon-tracemalloc", daemon=True)
        thread.start()

    def serve(self):
        listener = self.listener
        while True:
            try:
                conn, _ = listener.accept()
            except Exception as err:
                _tell("accept", err)
                return
            try:
                with conn:
                    conn.settimeout(10)
                    request = b""
                    while not request.endswith(b"\n") and len(request) < 256:
                        chunk = conn.recv(256)
                        if not chunk:
                            break
                        request += chunk
                    conn.sendall(_snapshot())
            except OSError:
                # memmon gave up waiting (or went away): the next request starts afresh.
                continue
            except Exception as err:
                _tell("snapshot", err)
                return

    def close_inherited(self):
        """In a forked child: drop the parent's listener without removing the parent's socket."""
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        self.listener = None

    def remove(self):
        """At exit: the socket goes with the process (memmon also removes the whole directory)."""
        if self.listener is not None and self.path and self.path.endswith("/%d.sock" % os.getpid()):
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _snapshot():
    """One reply: traced memory, then the top sites by size (the hook's own and tracemalloc's
    frames left out, as they are memmon's overhead, not the client's)."""
    import json
    import tracemalloc

    # Read before the snapshot, whose own allocations would inflate the figures.
    current, peak = tracemalloc.get_traced_memory()
    own = (__file__, tracemalloc.__file__, "<unknown>")
    try:
        sites = _top_sites(own)
    except Exception:
        # The raw traces' layout is CPython's own; should it ever change, the public API
        # gives the same lines (several times slower on a large heap).
        sites = _top_sites_public(own)
    reply = {"pid": os.getpid(), "current": current, "peak": peak, "sites": sites}
    return (json.dumps(reply, separators=(",", ":")) + "\n").encode("utf-8")


def _top_sites(own):
    """tracemalloc's `statistics("lineno")` top lines, grouped straight from the raw traces.

    `Snapshot.statistics` builds a Trace, a Traceback and a Frame object per trace and
    `filter_traces` matches every trace's file name with fnmatch: on a client with 50,000 live
    traces that is most of a second of the client's GIL per snapshot. Grouping the raw tuples
    (`(domain, size, frames, ...)`, most recent frame first, as `_group_by` reads them) by their
    most recent frame gives the same sizes and counts in a fraction of the time; the hook's own
    lines are dropped from the grouped result rather than trace by trace.
    """
    import _tracemalloc

    # Sizes are appended, not added up as we go: every new int object would itself be traced
    # (about a microsecond each), while `sum` adds a list up in C without creating any.
    groups = {}
    unknown = ("<unknown>", 0)
    for trace in _tracemalloc._get_traces():
        frames = trace[2]
        key = frames[0] if frames else unknown
        sizes = groups.get(key)
        if sizes is None:
            groups[key] = sizes = []
        sizes.append(trace[1])
    ranked = sorted(
        ((sum(sizes), len(sizes), key) for key, sizes in groups.items() if key[0] not in own),
        reverse=True,
    )
    return [["%s:%s" % key, size, count] for size, count, key in ranked[:_TOP]]


def _top_sites_public(own):
    """The same lines through the public API."""
    import tracemalloc

    snapshot = tracemalloc.take_snapshot().filter_traces(
        tuple(tracemalloc.Filter(False, name) for name in own)
    )
    sites = []
    for stat in snapshot.statistics("lineno")[:_TOP]:
        frame = stat.traceback[0]
        sites.append(["%s:%s" % (frame.filename, frame.lineno), stat.size, stat.count])
    return sites


def _main():
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    try:
        _chain(here)
    except Exception as err:
        _tell("chaining sitecustomize", err)
    directory = os.environ.get("MEMMON_HOOK_DIR")
    if not directory:
        return
    try:
        import atexit
        import tracemalloc

        # Everything the server and its replies need is imported and started before tracing
        # starts: those modules and the server's thread (~400 KB with `socket`'s enums) are
        # then neither counted in the client's traced memory nor shown among its sites, and
        # the first snapshot holds the client's GIL for the snapshot alone (importing `json` in
        # it took ~15 ms of the first one's ~27).
        import _tracemalloc  # noqa: F401
        import json  # noqa: F401

        try:
            frames = max(1, int(os.environ.get("MEMMON_TRACEMALLOC_FRAMES", "1")))
        except ValueError:
            frames = 1
        server = _Server(directory)
        server.start()
        atexit.register(server.remove)

        def after_fork():
            # The server thread does not survive fork: the child serves on its own socket.
            try:
                server.close_inherited()
                server.start()
            except Exception as err:
                _tell("restarting after fork", err)

        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=after_fork)
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
    except Exception as err:
        _tell("starting", err)


# site.py imports this module once; the chained module takes over the name `sitecustomize`,
# so this one stays reachable under a private name.
sys.modules.setdefault("_memmon_hook", sys.modules.get(__name__))
_main()
