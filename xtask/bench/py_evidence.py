"""The evidence client of `cargo xtask bench --only python-probes`
(xtask/src/bench/python_probes.rs).

Run under `memmon run` (tracemalloc off in memmon: it asks nothing), it asks its own hook to
start tracing, builds a heap of argv[2] records (a class instance in a list each: ~200,000
objects the collector tracks and as many traces), then, by argv[1]:

- `evidence`: asks its hook for `evidence` argv[3] times (issue #20's bounded capture: sites
  estimated from a sample of the objects, never a copy of the traces);
- `snapshot`: takes `tracemalloc.take_snapshot()` and its `statistics("traceback")` top 10 as
  many times, in its main thread (the full snapshot the capture avoids), dropping each;

and prints one `name: value` line per measure, prefixed by the mode:

- `MODE-us`: one capture (from connecting to the reply, or the snapshot and its top 10);
- `MODE-peak-kib`: the most the captures raised the client's RSS (VmHWM, reset to the current
  RSS through /proc/self/clear_refs before the first) over the RSS before them;
- `MODE-kept-kib`: the RSS after the captures over the RSS before them;
- `snapshot-traces`: live traces at the first snapshot; `evidence-samples`: objects whose
  traceback the first capture read.
"""

import _socket
import json
import os
import sys
import time
import tracemalloc


def ask(line):
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.connect(os.path.join(os.environ["MEMMON_HOOK_DIR"], "%d.sock" % os.getpid()))
    s.sendall(line.encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    reply = json.loads(data)
    if "error" in reply:
        sys.exit("hook: %s" % reply["error"])
    return reply


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    sys.exit("no %s in /proc/self/status" % field)


class Card:
    def __init__(self, i):
        self.i = i
        self.name = "card"


mode = sys.argv[1]
records = int(sys.argv[2])
asks = int(sys.argv[3])
ask("start 1")
heap = [[Card(i)] for i in range(records)]
traces = None
before = status_kib("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
times = []
for _ in range(asks):
    started = time.perf_counter()
    if mode == "evidence":
        reply = ask("evidence 1")
        if not (reply["complete"] and reply["sites_complete"]):
            sys.exit("the capture was cut by its budget or skipped: %r" % reply)
        if traces is None:
            traces = reply["sampled"]["samples"]
    else:
        snapshot = tracemalloc.take_snapshot()
        top = snapshot.statistics("traceback")[:10]
        if traces is None:
            traces = len(snapshot.traces)
        del snapshot, top
    times.append(time.perf_counter() - started)
peak = status_kib("VmHWM")
kept = status_kib("VmRSS")
for t in times:
    print("%s-us: %.1f" % (mode, t * 1e6))
print("%s-peak-kib: %d" % (mode, peak - before))
print("%s-kept-kib: %d" % (mode, kept - before))
print("%s-%s: %d" % (mode, "samples" if mode == "evidence" else "traces", traces))
