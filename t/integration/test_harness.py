"""Self-tests of the fixtures, so a broken harness never looks like a
broken daemon.  None of these start notifyd."""
import smtplib
import subprocess

import pytest

import nd


def test_pg_query(db):
    assert db.query("SELECT 1") == [(1,)]
    assert db.scalar("SELECT current_database()") == db.name


def test_pg_dbs_are_isolated(db, pg):
    db.query("CREATE TABLE t (x int)")
    other = nd.Database(pg, db.name + "_other")
    assert other.scalar("SELECT count(*) FROM pg_tables WHERE tablename='t'") == 0


def test_pg_stop_start(pg, db):
    pg.stop()
    with pytest.raises(Exception):
        db.query("SELECT 1")
    pg.start()
    assert nd.wait_until(lambda: db.query("SELECT 1"), 5) == [(1,)]


def test_kafka_produce_consume(kafka):
    kafka.produce("harness", ["one", "two"], key="k")
    got = nd.wait_until(lambda: kafka.consume("harness"), 10)
    assert sorted(m["payload"] for m in got) == ["one", "two"]
    assert {m["key"] for m in got} == {"k"}


def test_kafka_topic_partitions(kafka_factory):
    mock = kafka_factory(topics=[("six", 6)], brokers=3)
    assert mock.bootstrap.count(",") == 2
    meta = subprocess.run(["kcat", "-b", mock.bootstrap, "-L", "-t", "six"],
                          capture_output=True, check=True, timeout=10)
    assert b'"six" with 6 partitions' in meta.stdout


def test_kafka_down_up(kafka):
    kafka.produce("ud", ["before"])
    kafka.down()
    nd.wait_until(lambda: _metadata_fails(kafka), 5)
    kafka.up()
    kafka.produce("ud", ["after"])
    got = nd.wait_until(lambda: len(kafka.consume("ud")) == 2 and
                        kafka.consume("ud"), 10)
    # Auto-created topics have 4 partitions: no order across them.
    assert sorted(m["payload"] for m in got) == ["after", "before"]


def _metadata_fails(kafka):
    r = subprocess.run(["kcat", "-b", kafka.bootstrap, "-L", "-m", "1"],
                       capture_output=True, timeout=10)
    return r.returncode != 0


def _client(smtp):
    c = smtplib.SMTP("127.0.0.1", smtp.port, timeout=5)
    c.ehlo()
    return c


def test_smtp_delivers_exact_bytes(smtp):
    raw = b"Subject: hi\r\nFrom: a@x\r\n\r\nline one\r\n..dot\r\n"
    with _client(smtp) as c:
        c.sendmail("a@x", ["b@y", "c@y"], raw)
    (m,) = smtp.wait_messages(1)
    assert m["raw"] == raw      # smtplib dot-stuffs, the server unstuffs
    assert m["msg"]["Subject"] == "hi"
    assert m["mail_from"] == "a@x"
    assert m["rcpt_tos"] == ["b@y", "c@y"]
    assert smtp.stats() == {"connections": 1, "messages": 1,
                            "rcpt_rejects": 0}


def test_smtp_recipient_rules(smtp):
    with _client(smtp) as c:
        c.mail("a@x")
        assert c.rcpt("tempfail@y")[0] == 451
        assert c.rcpt("permfail-1@y")[0] == 550
        assert [c.rcpt("flaky2-z@y")[0] for _ in range(3)] == [451, 451, 250]
        assert c.rcpt("flaky2-other@y")[0] == 451    # counted per address
        assert c.rcpt("ok@y")[0] == 250
    assert smtp.stats()["rcpt_rejects"] == 5


@pytest.mark.parametrize("local", ["hang", "drop"])
def test_smtp_hang_and_drop(smtp, local):
    c = smtplib.SMTP("127.0.0.1", smtp.port, timeout=1)
    c.ehlo()
    c.mail("a@x")
    with pytest.raises(smtplib.SMTPServerDisconnected):
        c.rcpt(local + "@y")
    c.close()


def test_smtp_control_mode(smtp):
    smtp.set_mode("550")
    with _client(smtp) as c:
        c.mail("a@x")
        assert c.rcpt("ok@y")[0] == 550
    smtp.set_mode("accept")
    with _client(smtp) as c:
        c.mail("a@x")
        assert c.rcpt("tempfail@y")[0] == 451   # local rules apply again


def test_smtp_restart_same_port(smtp):
    with _client(smtp) as c:
        c.sendmail("a@x", ["b@y"], b"Subject: 1\r\n\r\nx\r\n")
    port = smtp.port
    smtp.stop()
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)
    smtp.start()
    assert smtp.port == port
    with _client(smtp) as c:
        c.sendmail("a@x", ["b@y"], b"Subject: 2\r\n\r\nx\r\n")
    msgs = smtp.wait_messages(2)
    assert [m["msg"]["Subject"] for m in msgs] == ["1", "2"]
    assert smtp.stats()["connections"] == 2


def test_libconfig_render():
    text = nd.libconfig({"a": {"b": "q\"\\\n", "c": True, "d": 1.5,
                               "e": ["x", "y"], "f": 2**40}, "g": 3})
    assert text == ('a = {\n  b = "q\\"\\\\\\n";\n  c = true;\n  d = 1.5;\n'
                    '  e = [ "x", "y" ];\n  f = 1099511627776L;\n};\ng = 3;')


def test_merge_is_deep():
    base = nd.base_conf("c", "k", "s", 1)
    conf = nd.merge(base, {"email": {"enabled": True}})
    assert conf["email"]["enabled"] and conf["email"]["smtp"]["url"] == "s"
    assert base["email"]["enabled"] is False


# A stand-in for the daemon, so the notifyd fixture is tested on its own:
# it announces READY=1, forks a child, logs, and answers HTTP.
FAKE_NOTIFYD = r'''#!/usr/bin/python3
import http.server, json, os, re, signal, socket, sys, time
conf = open(sys.argv[sys.argv.index("-c") + 1]).read()
port = int(re.search(r"port = (\d+);", conf).group(1))
child = os.fork()
if child == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        time.sleep(1)

class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.reply(200 if self.path == "/ok" else 404, {"path": self.path})
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        self.reply(202, {"echo": json.loads(self.rfile.read(n)),
                         "auth": self.headers.get("Authorization")})

def term(*_):
    os.kill(child, signal.SIGTERM)
    os.waitpid(child, 0)
    sys.exit(3)
signal.signal(signal.SIGTERM, term)
srv = http.server.HTTPServer(("127.0.0.1", port), H)
print("fake notifyd listening on", port, flush=True)
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.sendto(b"READY=1\nSTATUS=up", "\0" + os.environ["NOTIFY_SOCKET"][1:])
srv.serve_forever()
'''


def test_notifyd_fixture(notifyd, tmp_path, monkeypatch):
    fake = tmp_path / "fake-notifyd"
    fake.write_text(FAKE_NOTIFYD)
    fake.chmod(0o755)
    monkeypatch.setenv("NOTIFYD_BIN", str(fake))
    conf = nd.base_conf("dbname=x", "127.0.0.1:1", "smtp://127.0.0.1:1",
                        nd.free_port())
    d = notifyd(conf)
    assert d.notifications() == ["READY=1", "STATUS=up"]
    d.wait_log(r"^fake notifyd listening on %d$" % conf["http"]["port"])
    assert d.get("/ok")[:2] == (200, {"path": "/ok"})
    assert d.get("/missing")[0] == 404
    status, body, headers = d.post("/n", json={"a": 1},
                                   headers={"Authorization": "Bearer t"})
    assert (status, body) == (202, {"echo": {"a": 1}, "auth": "Bearer t"})
    assert headers["Content-Type"] == "application/json"
    (child,) = d.children()
    assert "fake-notifyd" in d.child_titles()[child]
    assert d.stop() == 3
    assert 'migrations_dir = "' in open(d.confpath).read()
