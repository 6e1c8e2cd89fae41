"""The client of `cargo xtask bench --only python-probes` (xtask/src/bench/python_probes.rs).

Run under `memmon run` (tracemalloc off: the hook idles until asked), it builds a heap of
about 200,000 objects the collector tracks (argv[1] records of a class instance and a list),
then asks its own hook, over the socket memmon's hook listens on, for `types` (argv[2] times)
and `trim` (as many), and prints one `name: value` line per measure:

- `types-us`: one `types` request, from connecting to the reply (the walk and its reply);
- `types-peak-kib`: the most the walks raised the client's RSS (VmHWM, reset to the current
  RSS through /proc/self/clear_refs before the first walk) over the RSS before them;
- `types-kept-kib`: the RSS after the walks over the RSS before them;
- `trim-us`: one `trim` request;
- `objects`: how many objects the last walk counted (its `complete` must be true).
"""

import _socket
import json
import os
import sys
import time


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


records = int(sys.argv[1])
asks = int(sys.argv[2])
heap = [[Card(i)] for i in range(records)]
before = status_kib("VmRSS")
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
walks = []
for _ in range(asks):
    started = time.perf_counter()
    reply = ask("types 1")
    walks.append(time.perf_counter() - started)
    if not reply["complete"]:
        sys.exit("the walk was cut by its budget: %r" % reply)
peak = status_kib("VmHWM")
kept = status_kib("VmRSS")
trims = []
for _ in range(asks):
    started = time.perf_counter()
    ask("trim 1")
    trims.append(time.perf_counter() - started)
for w in walks:
    print("types-us: %.1f" % (w * 1e6))
print("types-peak-kib: %d" % (peak - before))
print("types-kept-kib: %d" % (kept - before))
for t in trims:
    print("trim-us: %.1f" % (t * 1e6))
print("objects: %d" % reply["objects"])
