"""memmon's bench workload: allocation-heavy pure Python that times itself.

    python3 py_alloc.py run ITERATIONS   prints `py-alloc-seconds: S`
    python3 py_alloc.py calibrate SECS   prints `py-alloc-iterations: N` and `py-alloc-seconds: S`

Each iteration builds a few small objects of the kinds a real client makes (a list, a string, a
dict, an instance) and drops them; every 10th iteration's objects stay alive in a window of
WINDOW records whose older half dies at once when it fills (1 000 to 2 000 live records, some 10
to 20 thousand traces), so tracemalloc has live traces to snapshot and frees to record. The
window sets what a snapshot costs: keep it when comparing figures across commits.

`run` prints the wall-clock seconds of the loop alone (`time.perf_counter`), so interpreter and
memmon start-up are not in the figure, and the CPU seconds the process's other threads used
meanwhile (under memmon: the hook's snapshot thread, measured at the same moments as the loop); `calibrate` runs the same loop in chunks until SECS have
passed and says how far it got. Nothing else is printed on stdout.
"""

import sys
import time

WINDOW = 2_000
CHUNK = 1_000


class Item:
    __slots__ = ("key", "tags", "payload")

    def __init__(self, key, tags, payload):
        self.key = key
        self.tags = tags
        self.payload = payload


def work(start, stop, kept):
    for i in range(start, stop):
        tags = [i, i + 1, i + 2]
        name = "item-%d" % i
        record = {"id": i, "name": name, "tags": tags}
        item = Item(name, tags, record)
        if i % 10 == 0:
            kept.append(item)
            if len(kept) >= WINDOW:
                del kept[: WINDOW // 2]


def main():
    mode, amount = sys.argv[1], sys.argv[2]
    kept = []
    if mode == "run":
        iterations = int(amount)
        start = time.perf_counter()
        cpu = time.process_time()
        own = time.thread_time()
        work(0, iterations, kept)
        seconds = time.perf_counter() - start
        others = (time.process_time() - cpu) - (time.thread_time() - own)
        sys.stdout.write("py-alloc-seconds: %.6f\n" % seconds)
        sys.stdout.write("py-alloc-other-threads-cpu-seconds: %.6f\n" % max(others, 0.0))
    elif mode == "calibrate":
        budget = float(amount)
        done = 0
        start = time.perf_counter()
        while time.perf_counter() - start < budget:
            work(done, done + CHUNK, kept)
            done += CHUNK
        seconds = time.perf_counter() - start
        sys.stdout.write("py-alloc-iterations: %d\npy-alloc-seconds: %.6f\n" % (done, seconds))
    else:
        sys.exit("usage: py_alloc.py run ITERATIONS | calibrate SECS")


main()
