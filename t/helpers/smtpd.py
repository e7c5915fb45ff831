#!/usr/bin/python3
"""A scriptable SMTP sink for notifyd's integration tests (aiosmtpd 1.4).

    smtpd.py --host 127.0.0.1 --port 0 --maildir DIR [--control FILE]
             [--stats FILE] [--ignore-stdin]

Prints "READY <port>" once listening.  Every accepted message lands in
MAILDIR as NNNNNN.eml (envelope.original_content, byte for byte) next to
NNNNNN.json ({"mail_from": ..., "rcpt_tos": [...]}); the .json is in place
before the .eml is renamed in, so a reader that sees the .eml can always
read its envelope.  Numbers continue after the highest already in MAILDIR,
so a restarted server never overwrites earlier mail.

Recipient local parts choose the answer to RCPT:
    tempfail*    451 4.3.0 try later
    permfail*    550 5.1.1 no such user
    flakyN-*     451 for the first N RCPTs of that exact address, then 250
    hang*        no answer at all (the client has to time out)
    drop*        the connection is aborted
The --control file, when present and not "accept", overrides them for every
recipient: one of 451, 550, hang, drop.  It is re-read on each RCPT so a
test can flip the mode of a running server.

--stats FILE is rewritten (atomically) on each connection, message and
rejected recipient: {"connections": n, "messages": m, "rcpt_rejects": r}.
Counts carry on from an existing file, so they survive a restart.

Exits 0 on SIGTERM/SIGINT or EOF on stdin (so it dies with its test
harness; --ignore-stdin turns that off).
"""
import argparse
import asyncio
import json
import os
import re
import signal
import sys
import threading

from aiosmtpd.smtp import SMTP

TEMPFAIL = "451 4.3.0 try later"
PERMFAIL = "550 5.1.1 no such user"
FLAKY_RE = re.compile(r"^flaky(\d+)-", re.IGNORECASE)
MODES = ("accept", "451", "550", "hang", "drop")
HANG_SECONDS = 24 * 3600


def write_atomic(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Stats:
    """Counters mirrored to a JSON file that tests poll."""

    def __init__(self, path):
        self.path = path
        self.counts = {"connections": 0, "messages": 0, "rcpt_rejects": 0}
        if path and os.path.exists(path):
            with open(path) as f:
                self.counts.update(json.load(f))

    def bump(self, key):
        self.counts[key] += 1
        if self.path:
            write_atomic(self.path, json.dumps(self.counts).encode())


class Maildir:
    """NNNNNN.json + NNNNNN.eml pairs, numbered in arrival order."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, exist_ok=True)
        taken = [int(n[:6]) for n in os.listdir(path)
                 if re.match(r"^\d{6}\.(eml|json)$", n)]
        self.next = max(taken, default=0) + 1

    def store(self, envelope):
        name = os.path.join(self.path, "%06d" % self.next)
        self.next += 1
        meta = {"mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos)}
        write_atomic(name + ".json", json.dumps(meta).encode())
        write_atomic(name + ".eml", envelope.original_content)


class Handler:
    def __init__(self, maildir, stats, control):
        self.maildir = maildir
        self.stats = stats
        self.control = control
        self.flaky_seen = {}        # address -> RCPTs answered so far

    def mode(self):
        if not self.control:
            return "accept"
        try:
            with open(self.control) as f:
                mode = f.read().strip()
        except FileNotFoundError:
            return "accept"
        if mode not in MODES:
            print("smtpd: unknown control mode %r, accepting" % mode,
                  file=sys.stderr, flush=True)
            return "accept"
        return mode

    def verdict(self, address):
        """'250', '451', '550', 'hang' or 'drop' for one recipient."""
        mode = self.mode()
        if mode != "accept":
            return mode
        local = address.rsplit("@", 1)[0].lower()
        for prefix, answer in (("tempfail", "451"), ("permfail", "550"),
                               ("hang", "hang"), ("drop", "drop")):
            if local.startswith(prefix):
                return answer
        m = FLAKY_RE.match(local)
        if m:
            seen = self.flaky_seen.get(address, 0)
            self.flaky_seen[address] = seen + 1
            return "451" if seen < int(m.group(1)) else "250"
        return "250"

    async def handle_RCPT(self, server, session, envelope, address, options):
        verdict = self.verdict(address)
        if verdict in ("451", "550"):
            self.stats.bump("rcpt_rejects")
            return TEMPFAIL if verdict == "451" else PERMFAIL
        if verdict == "drop":
            server.transport.abort()
        if verdict in ("hang", "drop"):
            # Never answer; a dropped connection cancels this sleep.
            await asyncio.sleep(HANG_SECONDS)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.maildir.store(envelope)
        self.stats.bump("messages")
        return "250 2.0.0 OK queued"


class CountingSMTP(SMTP):
    def __init__(self, handler, **kw):
        super().__init__(handler, **kw)
        self.stats = handler.stats

    def connection_made(self, transport):
        # STARTTLS calls this again on the same connection: count once.
        if self.transport is None:
            self.stats.bump("connections")
        super().connection_made(transport)


def watch_stdin(loop, stop):
    """Stops the server when stdin reaches EOF (the parent went away)."""
    def reader():
        while os.read(sys.stdin.fileno(), 4096):
            pass
        loop.call_soon_threadsafe(stop.set)
    threading.Thread(target=reader, daemon=True).start()


async def serve(args):
    handler = Handler(Maildir(args.maildir), Stats(args.stats), args.control)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, hostname="notifyd-test-smtpd"),
        host=args.host, port=args.port, reuse_address=True)
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not args.ignore_stdin:
        watch_stdin(loop, stop)

    print("READY %d" % port, flush=True)
    await stop.wait()
    server.close()
    # Hanging sessions would keep the loop alive: cancel them.
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--maildir", required=True)
    p.add_argument("--control")
    p.add_argument("--stats")
    p.add_argument("--ignore-stdin", action="store_true")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
