"""Hostile input at notifyd's boundaries, review 10.

- kafka.properties entries are set on a scratch librdkafka conf at load:
  an unknown property or a bad value passed `notifyd -t` and a reload,
  then stopped every Kafka role at its start.  Now -t exits 1 and a
  reload keeps the running configuration, naming the file, the property
  and librdkafka's reason.
- email.topic, webhook.topic and inbox.topic follow Kafka's rule for a
  topic name at load (1 to 249 of A-Z a-z 0-9 . _ -, not . or ..).
- A number from the environment is plain decimal text:
  NOTIFYD_HTTP_PORT=0x1F90 used to mean 8080, " 8080" and 8e3 passed.
- A failed reload's error on sd_notify's STATUS= is escaped: a line break
  in a quoted value of the file (audit.exclude) sent STOPPING=1 of its own.
(Kafka message ids: test_boundaries_review9.py; the 414 for a long path
segment: test_boundaries_api.py.)
"""
import os
import signal
import subprocess

import nd


def check(tmp_path, conf, env=None):
    path = tmp_path / "check.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    return path, subprocess.run(
        [nd.notifyd_path(), "-t", "-c", str(path)], capture_output=True,
        text=True, timeout=30, env=dict(os.environ, **(env or {})))


def with_props(conf, *props):
    return nd.merge(conf, {"kafka": {"properties":
                                     conf["kafka"]["properties"] +
                                     list(props)}})


BAD_PROPERTIES = [
    ("no.such.property=1", "no.such.property",
     'No such configuration property: "no.such.property"'),
    ("linger.ms=soon", "linger.ms",
     "Invalid value for configuration property"),
    ("acks=some", "acks", "Invalid value"),
    ("enable.idempotence=maybe", "enable.idempotence",
     'Expected bool value for "enable.idempotence"'),
]


def test_bad_kafka_property_fails_check(conf, tmp_path):
    for prop, key, why in BAD_PROPERTIES:
        path, r = check(tmp_path, with_props(conf, prop))
        assert r.returncode == 1, (prop, r.stdout, r.stderr)
        want = "notifyd: %s: kafka.properties: %s: %s" % (path, key, why)
        assert want in r.stderr, (prop, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
    # the environment's list is checked the same way
    path, r = check(tmp_path, conf,
                    {"NOTIFYD_KAFKA_PROPERTIES": "linger.ms=5;nope=1"})
    assert r.returncode == 1 and "kafka.properties: nope: " in r.stderr, \
        r.stderr
    # what librdkafka takes still passes
    path, r = check(tmp_path, with_props(
        conf, "linger.ms=5", "partition.assignment.strategy=range",
        "client.id=a=b"))
    assert r.returncode == 0, r.stderr


def test_bad_kafka_property_reload_keeps_running(conf, notifyd):
    d = notifyd(conf)
    mark = d.mark()
    d.write_conf(with_props(conf, "no.such.property=1"))
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed, keeping the running configuration: .*"
               r"kafka\.properties: no\.such\.property: No such "
               r"configuration property", timeout=20, since=mark)
    st, _, _ = d.get("/health")
    assert st == 200


def test_bad_topic_name_fails_check(conf, tmp_path):
    for key in ("email", "webhook", "inbox"):
        for bad in ("bad topic", "a/b", ".", "..", "t" * 250, "x\ny"):
            path, r = check(tmp_path, nd.merge(conf, {key: {"topic": bad}}))
            assert r.returncode == 1, (key, bad, r.stderr)
            assert "%s.topic: " % key in r.stderr, r.stderr
            assert "not a Kafka topic name" in r.stderr, r.stderr
            assert "\n" not in r.stderr[:-1], r.stderr
        path, r = check(tmp_path, nd.merge(conf, {key: {"topic": "t" * 249}}))
        assert r.returncode == 0, r.stderr
    path, r = check(tmp_path, conf, {"NOTIFYD_EMAIL_TOPIC": "a:b"})
    assert r.returncode == 1, r.stderr
    assert 'email.topic: "a:b" is not a Kafka topic name' in r.stderr


def test_env_number_must_be_plain_decimal(conf, tmp_path):
    for value in ("0x1F90", " 8080", "8080 ", "8e3", "0x1p3", "+8080",
                  "8080.0"):
        path, r = check(tmp_path, conf, {"NOTIFYD_HTTP_PORT": value})
        assert r.returncode == 1, (value, r.stderr)
        assert ("environment NOTIFYD_HTTP_PORT: http.port: expected an "
                "integer") in r.stderr, r.stderr
    path, r = check(tmp_path, conf, {"NOTIFYD_HTTP_PORT": "80\r\n\x1b[2J"})
    assert r.returncode == 1
    assert "control or non-ASCII bytes" in r.stderr, r.stderr
    assert "\x1b" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for value in ("1e1", "inf", "nan", ".5"):
        path, r = check(tmp_path, conf, {"NOTIFYD_SHUTDOWN_TIMEOUT": value})
        assert r.returncode == 1, (value, r.stderr)
        assert "shutdown_timeout: expected a decimal number" in r.stderr
    path, r = check(tmp_path, conf, {"NOTIFYD_HTTP_PORT": "8080",
                                     "NOTIFYD_SHUTDOWN_TIMEOUT": "2.5"})
    assert r.returncode == 0, r.stderr


def test_reload_error_reaches_sd_notify_as_one_status_line(conf, notifyd):
    """A failed reload's error goes to systemd as STATUS=...; it may quote
    a value of the file (audit.exclude here), and a line break in it
    started an sd_notify assignment of its own (STOPPING=1, MAINPID=...).
    Now it is escaped as in the log."""
    d = notifyd(conf)
    after = len(d.notifications())
    d.write_conf(nd.merge(conf, {"audit": {"exclude": "(\nSTOPPING=1\n"}}))
    d.signal(signal.SIGHUP)
    nd.wait_until(lambda: any(n.startswith("STATUS=reload failed: ")
                              for n in d.notifications()[after:]), 20,
                  msg="STATUS=reload failed")
    notes = d.notifications()[after:]
    assert "STOPPING=1" not in notes, notes
    status = next(n for n in notes if n.startswith("STATUS=reload failed"))
    assert "audit.exclude" in status and "\\nSTOPPING=1" in status, status
    assert d.get("/health")[0] == 200
