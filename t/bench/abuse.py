#!/usr/bin/python3
"""t/bench/abuse.py - one abusive client address against notifyd's HTTP API.

    /usr/bin/python3 t/bench/abuse.py --port PORT [--pid API_PID ...]
    /usr/bin/python3 t/bench/abuse.py --start [--builddir DIR]

From --abuser (127.0.0.1) it holds --idle (5,000) connections that never
send a byte and --trickle (4,000) that send a request head one byte every
--interval (1.2) seconds, never finishing it.  Whatever the server closes
is reopened, at most --reconnect per second, as a real attacker would.
Meanwhile, from --prober (127.0.0.2, a second loopback source address
reaching the same listener), it sends GET /health and a notification
POST alternately, each on a fresh connection, --probe-rate per second.

It prints the probes' p50/p99/max and failures, and the api process's
peak PSS, thread count and sockets held, sampled twice a second from
/proc.  With --start it first starts a throwaway PostgreSQL (default
durability), librdkafka's mock broker and notifyd with the default HTTP
limits (email on, no mailer workers; --http KEY=N changes one), and
stops them after.

Needs `ulimit -n` above idle + trickle + a margin (it raises its soft
limit to the hard one).  Not a test: `make check` does not run it.
"""
import argparse
import errno
import http.client
import json
import os
import resource
import selectors
import socket
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRCDIR = HERE.parents[1]
HEAD = b"GET /health HTTP/1.1\r\nHost: abuse\r\nX-Slow: "
POST_PATH = "/notification_service/api/notifications"


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100.0 * len(xs)))]


class Abuser(threading.Thread):
    """Holds idle and trickling connections from one address."""

    def __init__(self, opts):
        super().__init__(daemon=True)
        self.o = opts
        self.sel = selectors.DefaultSelector()
        self.want = {"idle": opts.idle, "trickle": opts.trickle}
        self.have = {"idle": 0, "trickle": 0}       # open or opening
        self.connected = {"idle": 0, "trickle": 0}
        self.trick = {}             # socket -> next byte time
        self.opened = self.closed_by_server = self.failed = 0
        self.stop = threading.Event()

    def open_one(self, kind):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((self.o.abuser, 0))
            e = s.connect_ex((self.o.host, self.o.port))
        except OSError as ex:
            e = ex.errno
        if e not in (0, errno.EINPROGRESS):
            s.close()
            self.failed += 1
            return
        self.sel.register(s, selectors.EVENT_WRITE, [kind, False])
        self.have[kind] += 1
        self.opened += 1

    def drop(self, s, data, by_server):
        kind, up = data
        self.sel.unregister(s)
        s.close()
        self.trick.pop(s, None)
        self.have[kind] -= 1
        if up:
            self.connected[kind] -= 1
        if by_server:
            self.closed_by_server += 1

    def on_event(self, key, now):
        s, data = key.fileobj, key.data
        kind, up = data
        if not up:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                self.failed += 1
                self.drop(s, data, False)
                return
            data[1] = True
            self.connected[kind] += 1
            self.sel.modify(s, selectors.EVENT_READ, data)
            if kind == "trickle":
                self.send(s, data, HEAD)
                self.trick[s] = now + self.o.interval
            return
        try:
            if s.recv(4096) != b"":
                return      # an answer (408, 413...): wait for the close
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self.drop(s, data, True)

    def send(self, s, data, b):
        try:
            s.send(b)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.drop(s, data, True)

    def tick(self, now, budget):
        for s, t in list(self.trick.items()):
            if t <= now and s in self.trick:
                self.trick[s] = t + self.o.interval
                self.send(s, self.sel.get_key(s).data, b"a")
        while budget > 0:       # both kinds in proportion to what is wanted
            kind = min(("idle", "trickle"), key=lambda k:
                       self.have[k] / float(self.want[k] or 1) +
                       (self.want[k] == 0 or self.have[k] >= self.want[k]))
            if self.have[kind] >= self.want[kind]:
                break
            self.open_one(kind)
            budget -= 1

    def run(self):
        last = time.monotonic()
        credit = float(self.o.idle + self.o.trickle)     # the first wave
        while not self.stop.is_set():
            for key, _ in self.sel.select(0.05):
                self.on_event(key, time.monotonic())
            now = time.monotonic()
            credit = min(credit + (now - last) * self.o.reconnect,
                         self.o.idle + self.o.trickle)
            last = now
            before = self.opened
            self.tick(now, int(credit))
            credit -= self.opened - before
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()


class Prober(threading.Thread):
    """GET /health and POSTs from another address, fresh connections."""

    def __init__(self, opts):
        super().__init__(daemon=True)
        self.o = opts
        self.lat = {"health": [], "post": []}
        self.fail = {"health": [], "post": []}
        self.stop = threading.Event()

    def one(self, i):
        kind = "post" if i % 2 else "health"
        c = http.client.HTTPConnection(self.o.host, self.o.port, timeout=5,
                                       source_address=(self.o.prober, 0))
        t0 = time.monotonic()
        try:
            if kind == "post":
                body = {"type": "EMAIL", "title": "abuse probe %d" % i,
                        "content": "probe", "userId": i,
                        "recipient": "probe%d@example.com" % i}
                c.request("POST", POST_PATH, json.dumps(body).encode(),
                          {"Content-Type": "application/json"})
            else:
                c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            ok = r.status == (202 if kind == "post" else 200)
            why = "HTTP %d" % r.status
        except OSError as e:
            ok, why = False, repr(e)
        finally:
            c.close()
        dt = time.monotonic() - t0
        (self.lat if ok else self.fail)[kind].append(dt if ok else why)

    def run(self):
        i = 0
        while not self.stop.wait(1.0 / self.o.probe_rate):
            self.one(i)
            i += 1


def proc_field(pid, name, fname):
    try:
        for line in Path("/proc/%d/%s" % (pid, fname)).read_text().split("\n"):
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def sockets_of(pid):
    n = 0
    try:
        for fd in Path("/proc/%d/fd" % pid).iterdir():
            try:
                n += os.readlink(fd).startswith("socket:")
            except OSError:
                pass
    except OSError:
        pass
    return n


class Sampler(threading.Thread):
    """Peak PSS (kB), threads and sockets over the api processes."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {"pss": 0, "threads": 0, "sockets": 0}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.5):
            for p in self.pids:
                now = {"pss": proc_field(p, "Pss", "smaps_rollup"),
                       "threads": proc_field(p, "Threads", "status"),
                       "sockets": sockets_of(p)}
                for k, v in now.items():
                    self.peak[k] = max(self.peak[k], v)


def api_pids():
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == "notifyd-api":
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def report(o, ab, pr, sa, secs):
    print("load from %s: %d idle + %d trickling (one byte / %.1f s) wanted; "
          "at the end %d idle + %d trickling connected (client view); "
          "%d opened, %d closed by the server, %d failed to connect, in %.0f s"
          % (o.abuser, o.idle, o.trickle, o.interval, ab.connected["idle"],
             ab.connected["trickle"], ab.opened, ab.closed_by_server,
             ab.failed, secs))
    for kind in ("health", "post"):
        ms = [x * 1000 for x in pr.lat[kind]]
        print("%-6s from %s: %d ok, %d failed; p50 %.1f ms, p99 %.1f ms, "
              "max %.1f ms" % (kind, o.prober, len(ms), len(pr.fail[kind]),
                               percentile(ms, 50), percentile(ms, 99),
                               max(ms) if ms else float("nan")))
        if pr.fail[kind]:
            print("  first failures: %s" % pr.fail[kind][:3])
    print("api processes %s: peak PSS %.1f MB, peak threads %d, peak sockets "
          "%d" % (sa.pids, sa.peak["pss"] / 1024.0, sa.peak["threads"],
                  sa.peak["sockets"]))


def attack(o):
    pids = o.pid or api_pids()
    if not pids:
        sys.exit("no notifyd-api process found: give --pid")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < o.idle + o.trickle + 100:
        sys.exit("ulimit -n %d is too low for %d connections"
                 % (hard, o.idle + o.trickle))
    ab, pr, sa = Abuser(o), Prober(o), Sampler(pids)
    pr.one(0)       # warm-up, not counted: the producer's first ack
    pr.one(1)
    pr.lat = {"health": [], "post": []}
    pr.fail = {"health": [], "post": []}
    sa.start()
    ab.start()
    time.sleep(o.ramp)
    t0 = time.monotonic()
    pr.start()
    time.sleep(o.seconds)
    for t in (pr, ab, sa):
        t.stop.set()
        t.join()
    report(o, ab, pr, sa, time.monotonic() - t0)


def start_stack(o):
    """Throwaway PostgreSQL, mock Kafka and notifyd; returns a stop()."""
    os.environ.setdefault("NOTIFYD_BUILDDIR", o.builddir)
    sys.path.insert(0, str(SRCDIR / "t/integration"))
    import nd
    import tempfile
    tmp = tempfile.mkdtemp(prefix="notifyd-abuse-")
    pg = nd.Postgres()
    pg.start()
    conninfo = pg.create_db("abuse")
    km = nd.KafkaMock(tmp)
    conf = nd.merge(nd.base_conf(conninfo, km.bootstrap, "smtp://127.0.0.1:9",
                                 nd.free_port()),
                    {"log": {"level": "warning"},
                     "email": {"enabled": True, "workers": 0}})
    del conf["http"]["threads"]         # the default, as shipped
    for kv in o.http:
        k, v = kv.split("=", 1)
        conf["http"][k] = float(v) if "." in v else int(v)
    d = nd.Notifyd(tmp, conf)
    d.wait_ready(30)
    o.port = d.port
    o.pid = [p for p in d.children()
             if Path("/proc/%d/comm" % p).read_text().strip() == "notifyd-api"]
    print("notifyd %d on port %d (api %s), defaults but for email.workers = 0"
          "%s" % (d.pid, d.port, o.pid,
                  "".join(", http.%s" % kv for kv in o.http)))

    def stop():
        d.stop(30)
        d.cleanup()
        km.stop()
        pg.stop()
        pg.destroy()
    return stop


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--pid", type=int, action="append",
                    help="api process to sample (default: every notifyd-api)")
    ap.add_argument("--abuser", default="127.0.0.1")
    ap.add_argument("--prober", default="127.0.0.2")
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--trickle", type=int, default=4000)
    ap.add_argument("--interval", type=float, default=1.2)
    ap.add_argument("--reconnect", type=float, default=500,
                    help="reopened connections per second, at most")
    ap.add_argument("--probe-rate", type=float, default=20)
    ap.add_argument("--ramp", type=float, default=5,
                    help="seconds of abuse before probing starts")
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--start", action="store_true")
    ap.add_argument("--builddir", default=str(SRCDIR))
    ap.add_argument("--http", action="append", default=[], metavar="KEY=N",
                    help="with --start: an http.KEY other than the default")
    o = ap.parse_args()
    stop = start_stack(o) if o.start else None
    if o.port is None:
        sys.exit("--port or --start is needed")
    try:
        attack(o)
    finally:
        if stop is not None:
            stop()


if __name__ == "__main__":
    main()
