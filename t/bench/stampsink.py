#!/usr/bin/python3
"""An SMTP sink that stamps each message's arrival, for the end-to-end bench.

    stampsink.py --port 0 --out FILE

Prints "READY <port>" once listening.  For every message it appends one
line to FILE:

    <epoch seconds, 6 decimals> <size in bytes> <Subject header>

The time is taken in handle_DATA, i.e. when the final "." of DATA has
arrived and just before the 250 reply goes out: the moment the relay
accepted the message.  Nothing is stored but that line, so the sink keeps
up with a few thousand messages per second (the bench sends 100/s).
Exits on SIGTERM/SIGINT or EOF on stdin.
"""
import argparse
import asyncio
import re
import signal
import sys
import threading
import time

from aiosmtpd.smtp import SMTP

SUBJECT_RE = re.compile(rb"^Subject:[ \t]*(.*?)\r?$", re.M | re.I)


class Stamper:
    """handle_DATA hook: one line per accepted message."""

    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        t = time.time()
        data = envelope.original_content or b""
        m = SUBJECT_RE.search(data)
        subject = m.group(1).decode(errors="replace") if m else "-"
        self.out.write("%.6f %d %s\n" % (t, len(data), subject))
        self.out.flush()
        return "250 2.0.0 OK"


def watch_stdin(loop, stop):
    """EOF on stdin (our parent died or closed the pipe) stops the sink."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    loop.call_soon_threadsafe(stop.set)


async def serve(args):
    out = open(args.out, "a", buffering=1)
    handler = Stamper(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="stampsink", ident="stampsink"),
        host=args.host, port=args.port)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    threading.Thread(target=watch_stdin, args=(loop, stop),
                     daemon=True).start()
    print("READY %d" % port, flush=True)
    await stop.wait()
    server.close()
    out.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--out", required=True)
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
