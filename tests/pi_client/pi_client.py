"""A stand-in of the users' NFC attendance client (pi_client.py), for memmon's tests and bench.

Like the real one it loads its tables and libraries at start-up (30-60 MB of RSS), then runs a
card loop: each tap is looked up, kept among the recent taps shown on the display, written to
sqlite by one worker thread and posted over HTTP by another, to a tiny server the client runs
itself on loopback (the real one posts to the attendance server on the LAN). Only the standard
library is used, so any `python3 -m venv` runs it.

Environment:
  PI_CLIENT_SECONDS  how long the card loop runs (default 10; 0: until SIGTERM or SIGINT)
  PI_CLIENT_TAP      seconds between taps (default 0.02)
  PI_CLIENT_LEAK     "1": every tap is also kept forever, on the line marked `# LEAK`

Lines marked `# RECENT` (a bounded list: steady memory) and `# LEAK` are the ones tests look for
in tracemalloc blocks; they find them by their marker, so the file may change around them.
Prints `pi_client: ready` once loaded and `pi_client: done` with its counts at a clean exit.
"""

import collections
import http.client
import json
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import roster

RECENT = 500


class Handler(BaseHTTPRequestHandler):
    """The attendance server's one endpoint: POST /attendance with a JSON record."""

    protocol_version = "HTTP/1.1"
    # The reply's headers and body are two writes: with Nagle's algorithm the body would wait
    # for the client's delayed ACK, 40 ms a request, longer than the taps come.
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = "card" in json.loads(body)
        reply = b'{"ok":true}' if ok else b'{"ok":false}'
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def poster(port, outbox, counts):
    """Posts each record, on one kept-alive connection as the real client's session does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while True:
        record = outbox.get()
        if record is None:
            break
        conn.request(
            "POST", "/attendance", body=json.dumps(record), headers={"Content-Type": "application/json"}
        )
        reply = conn.getresponse()
        reply.read()
        if reply.status == 200:
            counts["posted"] += 1
    conn.close()


def writer(path, inbox, counts):
    """Writes each record to the local database, committing every 20."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS taps (card TEXT, name TEXT, class TEXT, at REAL)")
    pending = 0
    while True:
        record = inbox.get()
        if record is None:
            break
        db.execute(
            "INSERT INTO taps VALUES (?, ?, ?, ?)",
            (record["card"], record["name"], record["class"], record["at"]),
        )
        pending += 1
        counts["written"] += 1
        if pending == 20:
            db.commit()
            pending = 0
    db.commit()
    db.close()


def main():
    seconds = float(os.environ.get("PI_CLIENT_SECONDS", "10"))
    tap = float(os.environ.get("PI_CLIENT_TAP", "0.02"))
    leak = os.environ.get("PI_CLIENT_LEAK") == "1"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
    counts = {"taps": 0, "posted": 0, "written": 0}
    outbox = queue.Queue(maxsize=1000)
    inbox = queue.Queue(maxsize=1000)
    workers = [
        threading.Thread(target=poster, args=(server.server_address[1], outbox, counts), name="poster"),
        threading.Thread(target=writer, args=("attendance.db", inbox, counts), name="writer"),
    ]
    for w in workers:
        w.start()
    print("pi_client: ready pid %d" % os.getpid(), flush=True)

    recent = collections.deque(maxlen=RECENT)
    leaked = []
    started = time.monotonic()
    i = 0
    while not stop.is_set() and (seconds <= 0 or time.monotonic() - started < seconds):
        card = roster.CARD_IDS[(i * 7919) % len(roster.CARD_IDS)]
        name, klass, room = roster.BY_CARD[card]
        record = {"card": card, "name": name, "class": klass, "room": room, "at": time.time()}
        recent.append({"record": record, "shown": "%s %s %s" % (name, klass, room) * 8})  # RECENT
        if leak:
            leaked.append(json.dumps(record) * 16)  # LEAK
        outbox.put(record)
        inbox.put(record)
        counts["taps"] += 1
        i += 1
        stop.wait(tap)

    outbox.put(None)
    inbox.put(None)
    for w in workers:
        w.join()
    server.shutdown()
    print("pi_client: done taps %(taps)d posted %(posted)d written %(written)d" % counts, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
