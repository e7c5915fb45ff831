"""A reload hands each role over only when its new processes are ready.

test_hot_paths' reload test once saw /ready answer 503 under load with
"waiting: 1 of 1 inbox workers do not hold their notifications.inapp
partitions yet": the master stopped the old generation after a fixed
10 s although the new inbox worker had not joined its group yet (a join
into a group the old worker is in takes one or more rebalances, each
session.timeout.ms - 1 s against the mock, longer on a loaded machine),
so for a while nobody held those partitions.  Here a new worker is made
slow on purpose (SIGSTOP) for longer than that 10 s.
"""
import os
import re
import signal
import time

import nd
from test_email import email_conf
from test_hot_paths import first_mail_after

HELD = 13       # seconds a new mailer is kept from joining: over 10 s


def started(d, role, gen, since):
    """The pid of role (e.g. "mailer/1") the master started in gen."""
    m = d.wait_log(r"started %s pid (\d+) generation %d$" % (role, gen),
                   since=since)
    return int(m.group(1))


def pids_of(d, gen):
    """{"role/i": pid} of every process the log says started in gen."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r"started (\S+) pid (\d+) generation %d$" % gen, d.log(), re.M)}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def tail(d, since):
    """The log since a mark, without the sweeper's idle lines."""
    return "\n".join(l for l in d.log()[since:].splitlines()
                     if "sweep: nothing" not in l and "CONFWARN" not in l)


def exited(d, pid):
    return re.search(r"\[%d\]: exiting with status|pid %d exited"
                     % (pid, pid), d.log())


def reload_with_a_slow_mailer(d):
    """SIGHUP, then the new mailer/1 stopped before it can join: returns
    the first generation's pids, the log mark and the stopped pid."""
    old = pids_of(d, 1)
    mark = d.mark()
    d.signal(signal.SIGHUP)
    slow = started(d, "mailer/1", 2, mark)
    os.kill(slow, signal.SIGSTOP)
    return old, mark, slow


class Probe:
    """GET /ready again and again; every answer that is not 200 kept."""

    def __init__(self, d):
        self.d, self.codes, self.refused = d, [], []

    def poll(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.once()
            time.sleep(0.1)

    def once(self):
        code, body, _ = self.d.get("/ready", timeout=5)
        self.codes.append(code)
        if code != 200:
            self.refused.append(body)

    def check(self):
        assert len(self.codes) > 10 and set(self.codes) == {200}, \
            (len(self.codes), self.refused[:3])


def test_slow_new_worker_keeps_the_old_ones(conf, notifyd, smtp):
    d = notifyd(email_conf(conf))
    old, mark, slow = reload_with_a_slow_mailer(d)
    probe = Probe(d)
    try:
        probe.poll(HELD)
        log = tail(d, mark)
    finally:
        os.kill(slow, signal.SIGCONT)
    probe.check()
    # The old mailers still deliver; the api has nothing to wait for:
    # its old process is gone as soon as the new one serves.
    assert "generation 2 ready" not in log, log
    assert not exited(d, old["mailer/0"]) and \
        not exited(d, old["mailer/1"]), log
    assert exited(d, old["api/0"]), log
    assert re.search(r"generation 2 not ready after \d+ s \(waiting for: "
                     r"[a-z, ]*\bmailer\b[a-z, ]*\); the old processes of "
                     r"those roles keep running", log), log

    def handed_over():
        probe.once()
        return "generation 2 ready" in d.log()[mark:] and \
            not alive(old["mailer/0"]) and not alive(old["mailer/1"])
    nd.wait_until(handed_over, timeout=60, interval=0.1,
                  msg="generation 2 ready, old mailers gone")
    probe.check()
    assert first_mail_after(d, smtp) < 15       # a rebalance after they left


def test_unready_process_of_an_old_reload_stops_at_the_next(conf, notifyd,
                                                           smtp):
    """A process that never got ready serves nobody: a newer reload
    stops it at once rather than keeping it next to a third generation
    (with a slow join at each reload they would pile up)."""
    d = notifyd(email_conf(conf))
    old, mark, slow = reload_with_a_slow_mailer(d)
    try:
        d.wait_log(r"mailer/0\[%d\]: ready" % started(d, "mailer/0", 2, mark),
                   timeout=60)
        mark3 = d.mark()
        d.signal(signal.SIGHUP)
        started(d, "mailer/1", 3, mark3)
    finally:
        os.kill(slow, signal.SIGCONT)
    # SIGTERM waited behind the SIGSTOP: it exits now, never ready.
    nd.wait_until(lambda: not alive(slow), timeout=20, msg="stopped")
    assert not re.search(r"mailer/1\[%d\]: ready" % slow, d.log())
    d.wait_log(r"generation 3 ready", timeout=60, since=mark3)
    nd.wait_until(lambda: not any(alive(p) for p in old.values()),
                  timeout=20, msg="generation 1 gone")
    code, body, _ = d.get("/ready")
    assert code == 200 and body["checks"]["mailers"] == "ok", body


def test_old_process_dying_during_the_handover_is_not_respawned(conf,
                                                                notifyd):
    """Respawned, it would be an old-generation process that no
    handover stops (it came after its role's) or a spare next to the
    new one; the new generation replaces it."""
    d = notifyd(email_conf(conf))
    old, mark, slow = reload_with_a_slow_mailer(d)
    try:
        os.kill(old["mailer/0"], signal.SIGKILL)
        d.wait_log(r"mailer/0 pid %d killed by signal 9 \(Killed\); "
                   r"generation 2 replaces it" % old["mailer/0"],
                   since=mark)
        time.sleep(1.5)         # a respawn of a ready child is immediate
        assert not re.search(r"started \S+ pid \d+ generation 1$",
                             d.log()[mark:], re.M), tail(d, mark)
        assert alive(old["mailer/1"])
    finally:
        os.kill(slow, signal.SIGCONT)
    d.wait_log(r"generation 2 ready", timeout=60, since=mark)
    nd.wait_until(lambda: not any(alive(p) for p in old.values()),
                  timeout=20, msg="generation 1 gone")
    assert len(pids_of(d, 2)) == len(old)
    code, body, _ = d.get("/ready")
    assert code == 200 and body["checks"]["mailers"] == "ok", body
