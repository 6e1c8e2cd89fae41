"""memmon's tracemalloc hook, installed by `memmon run` through PYTHONPATH.

Python imports the first `sitecustomize` on sys.path at startup; memmon puts this file's private
directory first. The hook then:

1. runs the `sitecustomize` that would have run without it (a venv's, the distribution's), so the
   client behaves exactly as before;
2. when MEMMON_HOOK_DIR is set, serves memmon's requests on the Unix socket
   `$MEMMON_HOOK_DIR/<pid>.sock`, one at a time, from a daemon thread (a forked child gets a
   socket and a thread of its own); until memmon asks, that is all it does: no tracing, no walk
   of the heap (memmon installs the hook even when tracemalloc is off, and then asks nothing);
3. starts tracemalloc when memmon asks (`start`, at memmon's first sample, after the client has
   loaded, as the original monitor did when the client created it), or at once when the file
   `$MEMMON_HOOK_DIR/trace-from-start` exists (a process started after memmon's first sample).

The protocol (requests, replies, version) is written down in memmon's `docs/hook-protocol.md`;
`_PROTOCOL` and `_REQUESTS` below are its two places in this file.

The hook must never break the client: every failure is reported once on stderr, prefixed
`[memmon]`, and the hook goes quiet. Compatible with Python 3.8+.
"""

import os
import sys

_TOP = 10
# The protocol's version: memmon passes its own in MEMMON_HOOK_PROTOCOL and in every request.
_PROTOCOL = 1
# Created by memmon at its first sample: a process that starts later traces from its start.
_MARKER = "trace-from-start"
# A snapshot of at least this many traces gives its memory back to the system (`_trim`).
_TRIM_FROM = 10000
# A snapshot's copy of the traces costs ~3.8 times tracemalloc's own tables at its peak
# (500,000 traces: 23.3 MiB of tables, 89 MiB copied; BENCHMARKS.md): it is not made when this
# many times the tables would take more than half the memory left to the process.
_SNAPSHOT_COPY_RATIO = 4
# `types`: the walk's time budget (MEMMON_TYPES_BUDGET_MS, read at hook start), the objects
# walked between two looks at the clock, the most types counted (the rest are counted as one,
# `_TYPES_OTHER`), and how many of the fastest growing are replied.
# 500 ms: a heap of 200,000 objects takes ~60 ms here and several times that on a loaded Pi;
# memmon asks twice per run at most, and only when Python's bytes carry a suspected leak.
_TYPES_BUDGET_MS = 500
_TYPES_CHUNK = 2048
_TYPES_MAX = 4096
_TYPES_OTHER = "(other types)"
_TYPES_TOP = 5
# `evidence` (issue #20): the sites and types it replies, and the most frames written per
# traceback (a reply line stays far under memmon's 1 MiB: 10 tracebacks of 200 frames).
_EVIDENCE_SITES = 10
_EVIDENCE_TYPES = 20
_EVIDENCE_FRAMES = 200
# `evidence` estimates its sites from a bounded sample of the live objects (`_evidence_sites`),
# never from a copy of tracemalloc's traces: that copy is what a full snapshot costs (~185 bytes
# a trace, 89 MiB for 500,000 traces) and tracemalloc cannot read its table in parts.
# The objects the collector tracks sampled (one every len(objects) // this), and as many of the
# references they hold to untracked objects (str, bytes, int, atomic tuples).
_EVIDENCE_SAMPLES = 4096
# A str, bytes or bytearray at least this long is counted by itself, each one (large blocks are
# where a leak of payloads is, and one of them weighs more than a sample can stand for).
_EVIDENCE_LARGE = 65536
# A container with at least this many items has its own size counted by itself and its items
# sampled (_EVIDENCE_ITEMS over all such containers together, 16 to 1,024 each).
_EVIDENCE_BIG_LEN = 1024
_EVIDENCE_ITEMS = 16384
# The distinct tracebacks counted one by one; past them, a traceback is counted by its most
# recent frame alone (bounds the tables whatever the heap).
_EVIDENCE_TRACEBACKS = 2048
# The objects whose references are read at once (one list of their referents).
_EVIDENCE_CHUNK = 512
# The sampling stops past this budget (the walk of the types has its own, `_types_budget`).
_EVIDENCE_BUDGET_MS = 2000
# What the capture may take, per block `sys.getallocatedblocks()` counts (a bound on the objects
# the collector tracks): the list of objects (8 bytes), the types walk's list entry (8 bytes), and
# room for the lists' growth. It is not made when that is more than half the memory left.
_EVIDENCE_BYTES_PER_BLOCK = 24
_frames = 1
_types_budget = _TYPES_BUDGET_MS / 1000.0
# `types`' previous counts, {name: (count, bytes)} (at most _TYPES_MAX + 1 names), and whether
# the walk that made them was complete; None before the first `types`.
_types_before = None
_types_before_complete = True
_malloc_trim = None
_malloc_trim_loaded = False
_prepared = False
_told = False


def _tell(what, err, disabled=True):
    """Reports a failure once; later failures are silent, so a broken hook cannot flood stderr.
    A request that failed (`disabled=False`) got an error reply, and the hook serves on."""
    global _told
    if _told:
        return
    _told = True
    try:
        if disabled:
            line = "[memmon] tracemalloc hook disabled: %s: %s\n" % (what, err)
        else:
            line = "[memmon] tracemalloc hook: %s failed: %s\n" % (what, err)
        sys.stderr.write(line)
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
        # `_socket`, not `socket`: the idle hook is in every Python process memmon starts, and
        # `socket` (its enums, `selectors`) costs each ~3 ms of start-up and ~0.4 MB; nothing
        # here needs more than the C module.
        import _socket
        import threading

        self.path = os.path.join(self.directory, "%d.sock" % os.getpid())
        # A stale socket of the same PID is a previous image of this very process (exec).
        try:
            os.unlink(self.path)
        except OSError:
            pass
        listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        # A default timeout the client set (`socket.setdefaulttimeout`, before a fork) would
        # make accept() time out and stop the server: this one waits for as long as it takes.
        listener.settimeout(None)
        listener.bind(self.path)
        listener.listen(4)
        self.listener = listener
        thread = threading.Thread(target=self.serve, name="memmon-tracemalloc", daemon=True)
        thread.start()

    def serve(self):
        import _socket

        listener = self.listener
        while True:
            try:
                fd, _ = listener._accept()
            except Exception as err:
                _tell("accept", err)
                return
            try:
                conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
            except Exception as err:
                os.close(fd)
                _tell("accept", err)
                return
            try:
                try:
                    conn.settimeout(10)
                    request = b""
                    while not request.endswith(b"\n") and len(request) < 256:
                        chunk = conn.recv(256)
                        if not chunk:
                            break
                        request += chunk
                    if _abandoned(conn, _socket):
                        continue
                    conn.sendall(_answer(request))
                finally:
                    conn.close()
            except OSError:
                # memmon gave up waiting (or went away): the next request starts afresh.
                continue
            except Exception as err:
                _tell("answering a request", err)
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


def _abandoned(conn, socket):
    """Whether memmon closed the connection after its request: it gave up waiting (this process
    was stopped or busy past the timeout). Connections queue while the process cannot accept;
    answering each would cost a snapshot (and the client its GIL) nobody reads. memmon never
    half-closes, so an end of stream here means it is gone."""
    # A socket with a timeout first waits for data, whatever the flags: look without waiting.
    timeout = conn.gettimeout()
    conn.setblocking(False)
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    finally:
        conn.settimeout(timeout)


def _answer(request):
    """The reply line to one request line, `VERB VERSION` (see docs/hook-protocol.md)."""
    import json

    words = request.decode("ascii", "replace").split()
    verb = words[0] if words else ""
    if len(words) != 2 or words[1] != str(_PROTOCOL):
        reply = {"error": "protocol: hook speaks %d, asked %r" % (_PROTOCOL, request[:64])}
    elif verb not in _REQUESTS:
        reply = {"error": "unknown request %r" % verb}
    elif verb in _PROBES:
        # A probe (issue #19's diagnosis) that fails answers an error; the hook serves on.
        try:
            reply = _REQUESTS[verb]()
        except Exception as err:
            _tell(verb, err, disabled=False)
            reply = {"error": "%s failed: %s" % (verb, type(err).__name__)}
    else:
        reply = _REQUESTS[verb]()
    reply["v"] = _PROTOCOL
    reply["pid"] = os.getpid()
    return (json.dumps(reply, separators=(",", ":")) + "\n").encode("utf-8")


def _prepare():
    """Loads what tracing and its replies need, once, before tracing starts: those modules
    (~1 MB with `ctypes`) are then neither counted in the client's traced memory nor shown among
    its sites, and the first snapshot holds the client's GIL for the snapshot alone (importing
    `json` in it took ~15 ms of the first one's ~27). An idle hook never loads them."""
    global _prepared
    if _prepared:
        return
    # No lock: the marker (main thread) and `start` (the server's thread) may both get here,
    # and both then load; imports wait for each other, and a lock held across a fork would
    # leave the child's hook stuck.
    import _tracemalloc  # noqa: F401
    import gc  # noqa: F401  (`types`, `evidence`)
    import json  # noqa: F401
    import time  # noqa: F401  (`types`, `evidence`)
    import tracemalloc  # noqa: F401

    _load_malloc_trim()
    _prepared = True


def _start_tracing():
    """Starts tracemalloc (once: a process already tracing, by `PYTHONTRACEMALLOC` or an earlier
    request, keeps its traces)."""
    _prepare()
    import tracemalloc

    if not tracemalloc.is_tracing():
        tracemalloc.start(_frames)


def _start():
    """`start`: tracing from now on; the client's start-up (its imports) is not traced."""
    _start_tracing()
    return {"tracing": True}


def _snapshot():
    """`snapshot`: traced memory, then the top sites by size (the hook's own and tracemalloc's
    frames left out, as they are memmon's overhead, not the client's). A process not yet tracing
    (its `start` was lost) starts now and reports what it has: nothing yet. Near an OOM the
    sites are left out (`sites_skipped` says why): their copy of the traces could kill the
    client."""
    import tracemalloc

    _start_tracing()
    # Read before the snapshot, whose own allocations would inflate the figures.
    current, peak = tracemalloc.get_traced_memory()
    # tracemalloc's own memory (its tables of traces and tracebacks): memmon's overhead, which
    # memmon subtracts when it compares traced bytes with the growth of anonymous memory.
    own_memory = tracemalloc.get_tracemalloc_memory()
    own = (__file__, tracemalloc.__file__, "<unknown>")
    # The sites need a copy of every trace (tracemalloc cannot read its table in parts), ~3.8
    # times its tables at the peak: near an OOM that copy could be what kills the client, so
    # the block then has the traced figures alone and says why (`sites_skipped`).
    need = own_memory * _SNAPSHOT_COPY_RATIO
    room = _memory_room()
    if room is not None and need > room // 2:
        skipped = "copying the traces needs ~%d MiB, %d MiB left" % (need >> 20, room >> 20)
        return {
            "current": current,
            "peak": peak,
            "sites": [],
            "own": own_memory,
            "sites_skipped": skipped,
        }
    try:
        sites, traces = _top_sites(own)
    except Exception:
        # The raw traces' layout is CPython's own; should it ever change, the public API
        # gives the same lines (several times slower on a large heap).
        sites, traces = _top_sites_public(own)
    if traces >= _TRIM_FROM:
        _trim()
    return {
        "current": current,
        "peak": peak,
        "sites": sites,
        "own": own_memory,
        "sites_skipped": None,
    }


def _trim():
    """Gives the snapshot's memory back. A snapshot holds every trace at once (tracemalloc's copy
    of its table, then a tuple per trace: ~165 bytes a trace); freed, most of it stays in glibc's
    heap, so every snapshot of a large traced heap grew the client (360,000 traces: +59 MB while
    the snapshot lasted, +46 MB kept, +7 MB after `malloc_trim`; see BENCHMARKS.md)."""
    if _malloc_trim is not None:
        try:
            _malloc_trim(0)
        except Exception:
            pass


def _trim_request():
    """`trim`: calls glibc's `malloc_trim(0)` once, so memmon can tell memory the allocator holds
    free from memory the client holds. `malloc_trim` is loaded when tracing starts (`_prepare`);
    in a process that never traced it is loaded now (not traced: tracing is off)."""
    _load_malloc_trim()
    if _malloc_trim is None:
        return {"released": None}
    return {"released": bool(_malloc_trim(0))}


def _types():
    """`types`: the object types that grew most since the previous `types` (the first one:
    since nothing), by shallow bytes then count. See `_count_types` for what is counted and how
    the walk is bounded."""
    global _types_before, _types_before_complete
    counts, walked, complete = _count_types()
    before = _types_before or {}
    growth = []
    for name, (count, size) in counts.items():
        was = before.get(name, (0, 0))
        if size > was[1] or count > was[0]:
            growth.append((size - was[1], count - was[0], name))
    growth.sort(reverse=True)
    reply = {
        "types": [[name, count, size] for size, count, name in growth[:_TYPES_TOP]],
        # The figures are partial when this walk or the one they are compared with was cut.
        "complete": complete and _types_before_complete,
        "objects": walked,
    }
    _types_before = counts
    _types_before_complete = complete
    if walked >= _TRIM_FROM:
        # The list of objects (8 bytes an object) is freed by now, but glibc kept it (+1.6 MB of
        # RSS for 210,000 objects): give it back, as a snapshot does. `malloc_trim` is loaded
        # here only while nothing traces (a client tracing on its own would trace `ctypes`).
        tracemalloc = sys.modules.get("tracemalloc")
        if tracemalloc is None or not tracemalloc.is_tracing():
            _load_malloc_trim()
        _trim()
    return reply


def _evidence():
    """`evidence` (issue #20): the top sites with a traceback each, and the object types by
    count and shallow bytes, for a bundle near an OOM. Tracing starts now if it was off
    (`started_now`: the sites then show only what was allocated since). One list of the live
    objects serves both: the sites, estimated from a bounded sample of it (`_evidence_sites`),
    and the types walk; `types`' previous counts are left alone. Bounded in time (the sampling
    has `_EVIDENCE_BUDGET_MS`, the walk `_types_budget`) and in memory: the list (8 bytes an
    object) and the walk's entry per object are the only parts that grow with the heap, and
    they are not made when they could take more than half the memory left (`sites_skipped`
    says so); the rest is bounded by constants. It never calls `malloc_trim` (see the end)."""
    import gc
    import time

    import tracemalloc

    started_now = not tracemalloc.is_tracing()
    _start_tracing()
    own = (__file__, tracemalloc.__file__, "<unknown>")
    traced = tracemalloc.get_traced_memory()[0]
    need = sys.getallocatedblocks() * _EVIDENCE_BYTES_PER_BLOCK
    room = _memory_room()
    reply = {
        "started_now": started_now,
        "frames": tracemalloc.get_traceback_limit(),
        "sites": [],
        "sites_complete": False,
        "sites_skipped": None,
        "sampled": None,
        "types": [],
        "complete": False,
        "objects": 0,
    }
    if room is not None and need > room // 2:
        # Near an OOM even the list of objects could be what kills the client: nothing, and why.
        reply["sites_skipped"] = "the list of objects needs ~%d MiB, %d MiB left" % (
            need >> 20,
            room >> 20,
        )
        return reply
    objects = gc.get_objects()
    try:
        deadline = time.monotonic() + _EVIDENCE_BUDGET_MS / 1000.0
        sites, sampled, sites_complete = _evidence_sites(objects, own, deadline)
        sampled["traced"] = traced
        counts, walked, complete = _count_types(objects)
    finally:
        # The objects must not live longer because memmon looked.
        del objects
    ranked = sorted(
        ((size, count, name) for name, (count, size) in counts.items()), reverse=True
    )
    counts = None
    reply["sites"] = sites
    reply["sites_complete"] = sites_complete
    reply["sampled"] = sampled
    reply["types"] = [[name, count, size] for size, count, name in ranked[:_EVIDENCE_TYPES]]
    reply["complete"] = complete
    reply["objects"] = walked
    # No `malloc_trim` here, unlike a snapshot: it would also give back the client's own free
    # memory, which is what memmon's `trim` probe measures after an escalation (whose bundle
    # comes first): a capture that trimmed made a fragmenting client's 5 MB drop at the
    # capture and the probe find 0.9 MB, "held" instead of "fragmentation", and the drop
    # showed in the samples. What the capture freed (16 bytes an object) stays in glibc's free
    # lists for the client's next allocations (BENCHMARKS.md, `python-evidence-kept-kib`).
    return reply


def _memory_room():
    """The bytes this process can still get: the least of the system's `MemAvailable` and its
    memory cgroup's limit less its usage (v2, or v1's memory controller); None when none of
    them can be read."""
    room = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    room.append(int(line.split()[1]) * 1024)
                    break
    except Exception:
        pass
    try:
        with open("/proc/self/cgroup") as f:
            groups = f.read().splitlines()
    except Exception:
        groups = []
    for line in groups:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            base = "/sys/fs/cgroup" + parts[2].rstrip("/")
            files = ("memory.max", "memory.current")
        elif "memory" in parts[1].split(","):
            base = "/sys/fs/cgroup/memory" + parts[2].rstrip("/")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        try:
            with open(os.path.join(base, files[0])) as f:
                limit = f.read().strip()
            with open(os.path.join(base, files[1])) as f:
                usage = int(f.read().strip())
            # "max" (v2) or a huge number (v1): no limit of its own.
            if limit != "max" and int(limit) < (1 << 60):
                room.append(max(0, int(limit) - usage))
        except Exception:
            pass
    return min(room) if room else None


def _evidence_sites(objects, own, deadline):
    """The top `_EVIDENCE_SITES` lines by estimated size, each with one traceback, from a
    bounded sample of the live objects: tracemalloc's `_get_object_traceback` gives the
    traceback of one object's block, without copying the table of traces. Returns
    ([[location, size, count, [frame, ...]]], {"step", "samples", "large", "containers",
    "estimated"}, complete).

    What is counted, so that every byte of an object found is counted once on average:
    - every `step`-th object of `objects` (the ones the collector tracks), weight `step`;
    - every `step`-th reference those objects hold to untracked objects (str, bytes, int,
      float, tuples and dicts of atomic values), weight `step`;
    - each str, bytes or bytearray of `_EVIDENCE_LARGE` or more found among those references,
      once (weight 1, never sampled: a few large payloads are a leak's usual shape);
    - each container with `_EVIDENCE_BIG_LEN` items or more (tracked or not): its own size
      once, and a sample of its untracked items, weighted by its length over the sample.
    An object's size is `sys.getsizeof`'s; a site is the most recent frame of the object's
    traceback, and its traceback the one of that line holding the most estimated bytes.
    Not seen: memory that belongs to no Python object (a C extension's buffers) and objects
    allocated before tracing started; an object held by several containers is counted once
    for each reference sampled. The reply says how much the estimate covers
    (`estimated` against tracemalloc's traced bytes).

    Memory: no list grows with the heap here (the referents are read `_EVIDENCE_CHUNK`
    objects at a time, a container with many items never whole); the tables hold at most
    `_EVIDENCE_TRACEBACKS` tracebacks, then a frame each; the sets of payloads and containers
    already counted hold an id for each (one per 64 KiB payload, one per container of 1,024
    items or more: a small fraction of what they stand for). Time: the clock is read once a
    chunk; past `deadline` the sampling stops (`complete` False) and the sites are those of
    what was sampled."""
    import gc
    import time
    from itertools import compress, islice, repeat
    from operator import not_

    import _tracemalloc

    clock = time.monotonic
    traceback_of = _tracemalloc._get_object_traceback
    getsizeof = sys.getsizeof
    referents = gc.get_referents
    is_tracked = gc.is_tracked
    # Checked with issubclass (no hash of a class: a metaclass's `__hash__` is client code).
    containers = (list, tuple, dict, set, frozenset)
    deque = getattr(sys.modules.get("collections"), "deque", None)
    if isinstance(deque, type):
        containers = containers + (deque,)
    sized = (str, bytes, bytearray, tuple, dict, frozenset)
    payloads = (str, bytes, bytearray)
    by_traceback = {}
    samples = [0]

    by_pointer = _managed_dict_traceback()

    def add(obj, weight):
        frames = traceback_of(obj)
        if frames is None and by_pointer is not None:
            frames = by_pointer(obj)
        if frames is None:
            # Allocated before tracing started, or not by Python's allocators.
            return
        try:
            size = getsizeof(obj)
        except Exception:
            # A class's own `__sizeof__` may fail: not counted.
            return
        samples[0] += 1
        entry = by_traceback.get(frames)
        if entry is None:
            if len(by_traceback) >= _EVIDENCE_TRACEBACKS:
                frames = frames[:1]
                entry = by_traceback.get(frames)
            if entry is None:
                entry = by_traceback[frames] = [0, 0]
        entry[0] += size * weight
        entry[1] += weight

    total = len(objects)
    step = max(1, total // _EVIDENCE_SAMPLES)
    bigs = []
    big_ids = set()
    large_ids = set()
    leaf_phase = 0
    done = 0
    complete = True
    while done < total:
        if clock() > deadline:
            complete = False
            break
        chunk = objects[done : done + _EVIDENCE_CHUNK]
        sample = chunk[(-done) % step :: step]
        done += len(chunk)
        try:
            held = list(compress(chunk, map(issubclass, map(type, chunk), repeat(containers))))
            if held and max(map(len, held)) >= _EVIDENCE_BIG_LEN:
                for obj in held:
                    if len(obj) >= _EVIDENCE_BIG_LEN and id(obj) not in big_ids:
                        big_ids.add(id(obj))
                        bigs.append(obj)
                # A big container's items are sampled below, never listed whole.
                chunk = [obj for obj in chunk if id(obj) not in big_ids]
            held = None
            refs = referents(*chunk)
            chunk = None
            leaves = list(compress(refs, map(not_, map(is_tracked, refs))))
            refs = None
            long = list(compress(leaves, map(issubclass, map(type, leaves), repeat(sized))))
            if long and max(map(len, long)) >= _EVIDENCE_BIG_LEN:
                for obj in long:
                    length = len(obj)
                    if length < _EVIDENCE_BIG_LEN or id(obj) in big_ids or id(obj) in large_ids:
                        continue
                    if issubclass(type(obj), payloads):
                        if length >= _EVIDENCE_LARGE:
                            large_ids.add(id(obj))
                            add(obj, 1)
                    else:
                        big_ids.add(id(obj))
                        bigs.append(obj)
            long = None
            for obj in leaves[leaf_phase::step]:
                if id(obj) not in large_ids and id(obj) not in big_ids:
                    add(obj, step)
            leaf_phase = (leaf_phase - len(leaves)) % step
            leaves = None
            for obj in sample:
                if id(obj) not in big_ids:
                    add(obj, step)
        except Exception:
            # A client class's `__len__` or `__sizeof__` that fails: that chunk is not counted.
            complete = False
        obj = sample = None
    per = max(16, min(1024, _EVIDENCE_ITEMS // max(1, len(bigs))))
    for obj in bigs:
        if clock() > deadline:
            complete = False
            break
        try:
            add(obj, 1)
            length = len(obj)
            stride = max(1, length // per)
            if issubclass(type(obj), dict):
                taken = [x for pair in islice(obj.items(), 0, None, stride) for x in pair]
                pairs = len(taken) // 2
            else:
                taken = list(islice(obj, 0, None, stride))
                pairs = len(taken)
            if pairs:
                weight = length / pairs
                for item in taken:
                    if not is_tracked(item):
                        add(item, weight)
            taken = None
        except Exception:
            # Changed size while it was read (another thread), or a client class's `__len__`.
            complete = False
    item = obj = None
    containers_counted = len(bigs)
    bigs = big_ids = None
    lines = {}
    estimated = 0
    for frames, (size, count) in by_traceback.items():
        key = frames[0] if frames else ("<unknown>", 0)
        if key[0] in own:
            continue
        estimated += size
        line = lines.get(key)
        if line is None:
            lines[key] = [size, count, size, frames]
        else:
            line[0] += size
            line[1] += count
            if size > line[2]:
                line[2] = size
                line[3] = frames
    by_traceback = None
    ranked = sorted(
        ((line[0], line[1], key, line[3]) for key, line in lines.items()), reverse=True
    )[:_EVIDENCE_SITES]
    lines = None
    sites = [
        [
            "%s:%s" % key,
            int(size),
            int(round(count)),
            ["%s:%s" % frame for frame in frames[:_EVIDENCE_FRAMES]],
        ]
        for size, count, key, frames in ranked
    ]
    sampled = {
        "step": step,
        "samples": samples[0],
        "large": len(large_ids),
        "containers": containers_counted,
        "estimated": int(estimated),
    }
    return sites, sampled, complete


def _managed_dict_traceback():
    """On Python 3.11, a function giving the traceback of an instance whose class keeps its
    `__dict__` before the object (every plain class there); None elsewhere.

    3.11's `_get_object_traceback` looks such an object up one header too late (it skips the
    collector's header, not the two pointers before it) and finds nothing: the instances of a
    client's classes, the usual leak, would all be missed. 3.12 looks them up right. The
    block starts 32 bytes before the object (collector header, dict and values pointers);
    `_PyTraceMalloc_GetTraceback` is only a lookup in tracemalloc's table, so a wrong address
    finds nothing rather than harm. Needs ctypes, loaded with `malloc_trim` (`_prepare`)."""
    if sys.version_info[:2] != (3, 11):
        return None
    ctypes = sys.modules.get("ctypes")
    if ctypes is None:
        return None
    try:
        # By item, not attribute: a function object of its own, so the types set here never
        # change those of the client's own `pythonapi._PyTraceMalloc_GetTraceback`.
        lookup = ctypes.pythonapi["_PyTraceMalloc_GetTraceback"]
        lookup.restype = ctypes.py_object
        lookup.argtypes = [ctypes.c_uint, ctypes.c_size_t]
    except Exception:
        return None
    flags_of = type.__dict__["__flags__"].__get__
    managed_dict = 1 << 4  # Py_TPFLAGS_MANAGED_DICT

    def by_pointer(obj):
        try:
            if not flags_of(type(obj), type) & managed_dict:
                return None
            return lookup(0, id(obj) - 32)
        except Exception:
            return None

    return by_pointer


def _count_types(objects=None):
    """Walks `objects` (`evidence`'s list), or `gc.get_objects()` (the objects the collector
    tracks: instances, containers; not `int`, `str` or `bytes`), and counts objects and
    `sys.getsizeof` bytes per type name.

    Bounded in time: the clock is read every `_TYPES_CHUNK` objects and the walk stops past
    `_types_budget` (then `complete` is False). Bounded in memory: at most `_TYPES_MAX` types
    are counted one by one, later ones together as `_TYPES_OTHER`; the list of objects (8 bytes
    an object) is dropped before the reply (the caller's, by the caller). Returns ({name: (count, bytes)}, walked, complete).

    While tracemalloc traces (`evidence` always, `types` in a traced process) every int the
    count creates is an allocation traced with its traceback (~3 µs each here): the walk is
    then `_walk_traced`, which creates almost none."""
    import gc
    import time

    tracemalloc = sys.modules.get("tracemalloc")
    traced = tracemalloc is not None and tracemalloc.is_tracing()
    clock = time.monotonic
    deadline = clock() + _types_budget
    if objects is None:
        objects = gc.get_objects()
    total = len(objects)
    try:
        if traced:
            by_type, other, walked = _walk_traced(objects, clock, deadline)
        else:
            by_type, other, walked = _walk(objects, clock, deadline)
    finally:
        # Drop the references at once: the objects must not live longer because memmon looked.
        del objects
    counts = {}
    for count, size, kind in by_type.values():
        name = _type_name(kind)
        was = counts.get(name, (0, 0))
        counts[name] = (was[0] + count, was[1] + size)
    by_type = None
    if other[0]:
        counts[_TYPES_OTHER] = (other[0], other[1])
    return counts, walked, walked >= total


def _walk(objects, clock, deadline):
    """`_count_types`' walk: ({id(type): [count, bytes, type]}, [count, bytes] of the types past
    `_TYPES_MAX`, objects walked)."""
    getsizeof = sys.getsizeof
    by_type = {}
    other = [0, 0]
    total = len(objects)
    walked = 0
    obj = None
    while walked < total:
        for obj in objects[walked : walked + _TYPES_CHUNK]:
            # By id: a metaclass's own `__hash__` or `__eq__` (client code) is not run.
            kind = type(obj)
            entry = by_type.get(id(kind))
            if entry is None:
                if len(by_type) < _TYPES_MAX:
                    entry = by_type[id(kind)] = [0, 0, kind]
                else:
                    entry = other
            entry[0] += 1
            try:
                entry[1] += getsizeof(obj)
            except Exception:
                # A class's own `__sizeof__` may fail: the object is counted, its bytes not.
                pass
        walked = min(total, walked + _TYPES_CHUNK)
        if clock() > deadline:
            break
    obj = None
    return by_type, other, walked


def _walk_traced(objects, clock, deadline):
    """`_walk`'s figures, creating (and so tracing) almost no object per object walked.

    `id(kind)`, `count += 1` and `getsizeof` each create an int (and `getsizeof` a bound method)
    per object. Here a type whose metaclass is `type` itself is its own key (its hash is its
    identity: no client code runs), others go by `id`; each type keeps a list with one entry per
    object (8 bytes, given back after the walk): for a type whose size is fixed (`object`'s
    `__sizeof__`, no items) the same int object every time, else what the type's own
    `__sizeof__` descriptor returns, called unbound; `getsizeof`'s addition (the collector's
    header) is measured once per type. 210,000 objects: ~100 ms traced, against ~1 s."""
    by_type = {}
    other = [0, 0]
    total = len(objects)
    walked = 0
    obj = None
    while walked < total:
        for obj in objects[walked : walked + _TYPES_CHUNK]:
            kind = type(obj)
            key = kind if type(kind) is type else id(kind)
            entry = by_type.get(key)
            if entry is None:
                if len(by_type) < _TYPES_MAX:
                    entry = by_type[key] = _sizer(kind, obj)
                else:
                    other[0] += 1
                    try:
                        other[1] += sys.getsizeof(obj)
                    except Exception:
                        pass
                    continue
            sizeof = entry[1]
            if sizeof is None:
                entry[0].append(entry[2])
            else:
                try:
                    entry[0].append(sizeof(obj))
                except Exception:
                    # A class's own `__sizeof__` may fail: the object is counted, its bytes not.
                    entry[0].append(None)
        walked = min(total, walked + _TYPES_CHUNK)
        if clock() > deadline:
            break
    obj = None
    figures = {}
    for key, (sizes, _, _, extra, kind) in by_type.items():
        counted = [size for size in sizes if size is not None]
        figures[key] = [len(sizes), sum(counted) + extra * len(counted), kind]
    return figures, other, walked


def _sizer(kind, obj):
    """A type's entry in `_walk_traced`: [sizes, unbound `__sizeof__` or None when every object
    of the type has one size, that size, what `getsizeof` adds to `__sizeof__`, the type]. The
    descriptor is found through the MRO's own dicts, as `getsizeof` finds it, so no metaclass
    code runs; with none found (or a failing one) the type's objects are counted without bytes."""
    entry = [[], None, None, 0, kind]
    try:
        sizeof = None
        for klass in type.__dict__["__mro__"].__get__(kind, type):
            own = type.__dict__["__dict__"].__get__(klass, type)
            if "__sizeof__" in own:
                sizeof = own["__sizeof__"]
                break
        raw = sizeof(obj)
        entry[3] = sys.getsizeof(obj) - raw
        fixed = type.__dict__["__itemsize__"].__get__(kind, type) == 0
        if sizeof is object.__dict__["__sizeof__"] and fixed:
            entry[2] = raw
        else:
            entry[1] = sizeof
    except Exception:
        entry[1] = entry[2] = None
    return entry


def _type_name(kind):
    """`module.Qualname` (`__main__.Card`), or the plain name of a builtin (`dict`). Read through
    `type`'s own descriptors, so a metaclass's properties (client code) are not run."""
    try:
        qualname = type.__dict__["__qualname__"].__get__(kind, type)
        module = type.__dict__["__module__"].__get__(kind, type)
        if not isinstance(qualname, str):
            qualname = "?"
        if module == "builtins" or not isinstance(module, str):
            return qualname
        return "%s.%s" % (module, qualname)
    except Exception:
        return "?"


# The requests memmon may send, by verb: a new request is a function here and a line in
# docs/hook-protocol.md (and memmon's `Request`).
_REQUESTS = {
    "start": _start,
    "snapshot": _snapshot,
    "trim": _trim_request,
    "types": _types,
    "evidence": _evidence,
}
# The requests whose failure is an error reply rather than the hook's end.
_PROBES = ("trim", "types", "evidence")


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

    traces = _tracemalloc._get_traces()
    # Sizes are appended, not added up as we go: every new int object would itself be traced
    # (about a microsecond each), while `sum` adds a list up in C without creating any.
    groups = {}
    unknown = ("<unknown>", 0)
    for trace in traces:
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
    return [["%s:%s" % key, size, count] for size, count, key in ranked[:_TOP]], len(traces)


def _top_sites_public(own):
    """The same lines through the public API, and how many traces they came from."""
    import tracemalloc

    whole = tracemalloc.take_snapshot()
    snapshot = whole.filter_traces(tuple(tracemalloc.Filter(False, name) for name in own))
    sites = []
    for stat in snapshot.statistics("lineno")[:_TOP]:
        frame = stat.traceback[0]
        sites.append(["%s:%s" % (frame.filename, frame.lineno), stat.size, stat.count])
    return sites, len(whole.traces)


def _load_malloc_trim():
    """Finds glibc's `malloc_trim` (none elsewhere: then nothing is trimmed), once. Loaded by
    `_prepare`, before tracing starts: `ctypes` (~0.3 MB) imported during a snapshot would be
    traced, and its import's lines would show among the client's sites. A `trim` request in a
    process that never traced loads it then (tracing is off)."""
    global _malloc_trim, _malloc_trim_loaded
    if _malloc_trim_loaded:
        return
    _malloc_trim_loaded = True
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
        _malloc_trim = trim
    except Exception:
        _malloc_trim = None


def _main():
    here = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    try:
        _chain(here)
    except Exception as err:
        _tell("chaining sitecustomize", err)
    try:
        # The hook is loaded: its directory leaves sys.path, so nothing else is ever imported
        # from it (PYTHONPATH keeps it for the Python processes this one starts).
        sys.path[:] = [
            p for p in sys.path if not (isinstance(p, str) and os.path.realpath(p or ".") == here)
        ]
    except Exception as err:
        _tell("leaving sys.path", err)
    global _frames, _types_budget
    directory = os.environ.get("MEMMON_HOOK_DIR")
    if not directory:
        return
    protocol = os.environ.get("MEMMON_HOOK_PROTOCOL")
    if protocol != str(_PROTOCOL):
        _tell("protocol", "memmon speaks %s, this hook %d" % (protocol, _PROTOCOL))
        return
    try:
        import atexit

        # Only what listening needs is loaded here: memmon installs the hook in every Python
        # process it starts, and with tracemalloc off it never asks anything, so the hook
        # idles on a socket and a thread (see BENCHMARKS.md, `python-idle-hook-*`); what
        # tracing needs is loaded when tracing starts (`_prepare`).
        try:
            _frames = max(1, int(os.environ.get("MEMMON_TRACEMALLOC_FRAMES", "1")))
        except ValueError:
            _frames = 1
        try:
            budget = int(os.environ.get("MEMMON_TYPES_BUDGET_MS", str(_TYPES_BUDGET_MS)))
            _types_budget = max(0, budget) / 1000.0
        except ValueError:
            _types_budget = _TYPES_BUDGET_MS / 1000.0
        server = _Server(directory)
        server.start()
        atexit.register(server.remove)

        def after_fork():
            # The server thread does not survive fork: the child serves on its own socket.
            # Called by os.fork() in the child, where it must never raise: a failure is told
            # once and the child runs on unhooked.
            global _types_before, _types_before_complete
            # The child's first `types` reports from nothing, as any process's first does.
            _types_before = None
            _types_before_complete = True
            try:
                server.close_inherited()
                server.start()
            except Exception as err:
                _tell("restarting after fork", err)

        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=after_fork)
        # Checked after the socket is bound, as memmon creates the marker before it lists the
        # sockets to ask: a process is either asked to start or sees the marker (or both).
        if os.path.exists(os.path.join(directory, _MARKER)):
            _start_tracing()
    except Exception as err:
        _tell("starting", err)


# site.py imports this module once; the chained module takes over the name `sitecustomize`,
# so this one stays reachable under a private name.
sys.modules.setdefault("_memmon_hook", sys.modules.get(__name__))
_main()
