"""DKIM signing (email.dkim.*), checked by an independent verifier.

Mail goes POST -> PostgreSQL -> Kafka -> mailer (libopendkim) -> aiosmtpd,
and the bytes the relay received are verified with dkimpy (Debian's
python3-dkim), its DNS lookup answering with the test key's TXT record.
Keys are made at test time with openssl; none is committed.
"""
import base64
import os
import re
import signal
import subprocess

import dkim
import pytest

import nd

PATH = "/notification_service/api/notifications"
DOMAIN = "example.com"
SELECTOR = "test2026"


def make_key(tmp_path, name, bits=2048):
    """A fresh RSA key: (private key path, TXT record of its public key)."""
    key = tmp_path / (name + ".pem")
    subprocess.run(["openssl", "genrsa", "-out", str(key), str(bits)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    der = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("dkimkeys")
    return {"good": make_key(d, "good"), "other": make_key(d, "other")}


def verify(raw, txt):
    """dkimpy's verdict on raw, the selector's record being txt."""
    wanted = ("%s._domainkey.%s." % (SELECTOR, DOMAIN)).encode()

    def dnsfunc(name, timeout=5):
        assert name == wanted, name
        return txt
    return dkim.verify(raw, dnsfunc=dnsfunc)


def dkim_conf(conf, key, **dk):
    c = nd.merge(conf, {
        "email": {"enabled": True, "workers": 1, "from": "notify@example.com",
                  "dkim": dict({"domain": DOMAIN, "selector": SELECTOR,
                                "key_file": str(key)}, **dk)},
    })
    return c


def send(d, smtp, count_before, **over):
    body = {"type": "EMAIL", "title": "Payment Confirmation",
            "content": "<p>Your payment has been <b>confirmed</b>.</p>",
            "userId": 123, "recipient": "user@example.com"}
    body.update(over)
    status, resp, _ = d.post(PATH, json=body)
    assert status == 202, resp
    return smtp.wait_messages(count_before + 1, timeout=30)[count_before]


def sig_tags(raw):
    """The DKIM-Signature's tags, from the first field of the message."""
    assert raw.startswith(b"DKIM-Signature: "), raw[:80]
    field = re.match(rb"DKIM-Signature: (.*?)\r\n(?![ \t])", raw, re.S).group(1)
    value = re.sub(rb"\r\n[ \t]", b"", field).decode()
    return dict(t.strip().split("=", 1) for t in value.split(";") if t.strip())


def test_signed_mail_verifies(conf, notifyd, smtp, keys):
    key, txt = keys["good"]
    d = notifyd(dkim_conf(conf, key))
    m = send(d, smtp, 0)
    raw = m["raw"]
    tags = sig_tags(raw)
    assert tags["a"] == "rsa-sha256"
    assert tags["c"] == "relaxed/relaxed"
    assert tags["d"] == DOMAIN and tags["s"] == SELECTOR
    signed = [h.strip().lower() for h in tags["h"].split(":")]
    for h in ("from", "to", "subject", "date", "message-id"):
        assert h in signed, signed
    assert b"\n" not in raw.replace(b"\r\n", b"")     # CRLF only
    assert verify(raw, txt)
    # The check has teeth: another key's record, one changed byte of a
    # signed header or of the body, fails.
    assert not verify(raw, keys["other"][1])
    assert b"Payment Confirmation" in raw
    assert not verify(raw.replace(b"Payment Confirmation",
                                  b"Payment Confirmatiom"), txt)
    body = raw.rindex(b"PHA+")      # the html part's base64
    assert not verify(raw[:body] + b"PHB+" + raw[body + 4:], txt)


def test_folded_non_ascii_subject_and_large_body(conf, notifyd, smtp, keys):
    key, txt = keys["good"]
    d = notifyd(dkim_conf(conf, key))
    title = ("Ihre Bestellung \u00fcber Gr\u00f6\u00dfe XXL wurde "
             "versandt \u2013 " * 6).strip()
    m = send(d, smtp, 0, title=title)
    raw = m["raw"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    subject = re.search(rb"\r\nSubject: (.*?)\r\n(?![ \t])", head, re.S)
    assert subject and b"\r\n " in subject.group(1), head    # folded
    assert b"=?UTF-8?" in subject.group(1).upper()           # RFC 2047
    assert str(m["msg"]["Subject"]) == title
    assert verify(raw, txt)

    content = "<p>" + ("line of a long body, " * 40 + "<br>\n") * 250 + "</p>"
    assert len(content) > 200 * 1024
    m = send(d, smtp, 1, content=content)
    assert len(m["raw"]) > 200 * 1024
    assert verify(m["raw"], txt)
    assert not verify(m["raw"], keys["other"][1])


def test_unsigned_without_dkim(conf, notifyd, smtp):
    d = notifyd(nd.merge(conf, {"email": {"enabled": True, "workers": 1}}))
    m = send(d, smtp, 0)
    assert b"DKIM-Signature" not in m["raw"]


def test_template_rendered_mail_verifies(conf, notifyd, smtp, keys):
    key, txt = keys["good"]
    d = notifyd(dkim_conf(conf, key))
    _, doc, _ = d.get("/openapi.json")
    tpath = "/notification_service/api/templates/{name}"
    if tpath not in doc.get("paths", {}):
        pytest.skip("templates (issue 15) not in this build")
    status, resp, _ = d.request(
        "PUT", tpath.replace("{name}", "receipt"),
        json_body={"subject": "Receipt for {{order}}",
                   "html": "<p>Hello {{name}}, order {{order}} is paid.</p>"})
    assert status in (200, 201), resp
    body = {"type": "EMAIL", "template": "receipt",
            "data": {"name": "J\u00fcrgen", "order": "ORD-7"},
            "userId": 7, "recipient": "user@example.com"}
    status, resp, _ = d.post(PATH, json=body)
    assert status == 202, resp
    m = smtp.wait_messages(1, timeout=30)[0]
    assert str(m["msg"]["Subject"]) == "Receipt for ORD-7"
    assert verify(m["raw"], txt)


def run_t(tmp_path, conf):
    path = tmp_path / "t.conf"
    path.write_text(nd.libconfig(conf) + "\n")
    return subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("content,why", [
    (None, "cannot read"),
    ("not a key\n", "not a PEM private key"),
    ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
     "not a PEM private key"),
    ("EC", "not an RSA key"),
    ("RSA512", "at least 1024"),
    ("\x00\xff\xfe binary", "not a PEM private key"),
    ("DIR", "Is a directory"),
    ("HUGE", "File too large"),
])
def test_bad_key_file_is_a_config_error(tmp_path, conf, content, why):
    key = tmp_path / "key.pem"
    if content == "EC":
        subprocess.run(["openssl", "ecparam", "-genkey", "-name",
                        "prime256v1", "-out", str(key)], check=True,
                       capture_output=True)
    elif content == "RSA512":
        subprocess.run(["openssl", "genrsa", "-out", str(key), "512"],
                       check=True, capture_output=True)
    elif content == "DIR":
        key.mkdir()
    elif content == "HUGE":
        key.write_bytes(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 200000)
    elif content is not None:
        key.write_bytes(content.encode("latin-1"))
    r = run_t(tmp_path, dkim_conf(conf, key))
    assert r.returncode != 0
    assert "email.dkim.key_file" in r.stderr, r.stderr
    assert str(key) in r.stderr and why in r.stderr, r.stderr


def test_bad_dkim_names_are_config_errors(tmp_path, conf, keys):
    key = keys["good"][0]
    for over, name in [({"domain": "exa mple.com"}, "email.dkim.domain"),
                       ({"domain": "a\nb"}, "email.dkim.domain"),
                       ({"selector": "s;x"}, "email.dkim.selector"),
                       ({"headers": ["to", "subject"]}, "email.dkim.headers"),
                       ({"headers": ["from", "bad:name"]},
                        "email.dkim.headers"),
                       ({"key_file": ""}, "email.dkim.key_file")]:
        r = run_t(tmp_path, dkim_conf(conf, key, **over))
        assert r.returncode != 0 and name in r.stderr, (over, r.stderr)
    # A key without a domain would silently sign nothing: refused too.
    c = nd.merge(conf, {"email": {"dkim": {"key_file": str(key)}}})
    r = run_t(tmp_path, c)
    assert r.returncode != 0 and "email.dkim.domain" in r.stderr, r.stderr
    assert run_t(tmp_path, dkim_conf(conf, key)).returncode == 0


def test_bad_key_at_start_and_reload(tmp_path, conf, notifyd, keys):
    bad = tmp_path / "bad.pem"
    bad.write_text("garbage\n")
    d = notifyd(dkim_conf(conf, bad), wait_ready=False)
    assert d.wait() == 78          # EX_CONFIG, like other config errors
    assert "email.dkim.key_file" in d.log()

    key = keys["good"][0]
    d = notifyd(dkim_conf(conf, key))
    mark = d.mark()
    d.write_conf(dkim_conf(conf, bad))
    d.signal(signal.SIGHUP)
    d.wait_log(r"reload failed.*email\.dkim\.key_file", since=mark)
    assert d.alive()


def test_key_readable_by_others_warns(tmp_path, conf, keys):
    key = tmp_path / "open.pem"
    key.write_bytes(keys["good"][0].read_bytes())
    os.chmod(key, 0o644)
    r = run_t(tmp_path, dkim_conf(conf, key))
    assert r.returncode == 0, r.stderr
    assert "email.dkim.key_file" in r.stderr
    assert "readable by its group or others" in r.stderr
