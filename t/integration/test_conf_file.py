"""Files the configuration's keys name (email.dkim.key_file,
webhook.endpoints[].secret_file, email.unsubscribe_secret_file) are read
by one bounded reader (conf_file.c) when the configuration loads: `-t`
refuses a file with no end or a far too large one, naming the
configuration file, the key and the path, instead of filling memory."""
import os
import resource
import subprocess

import pytest

import nd

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def check(tmp_path, conf):
    """notifyd -t under a 1 GiB address-space limit: (rc, stderr).  Not
    under ASan, which reserves terabytes of shadow memory at start; the
    reader's own cap is what the tests check, the limit only makes a
    reader without one fail fast instead of filling memory."""
    path = tmp_path / "t.conf"
    path.write_text(nd.libconfig(conf) + "\n")

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    sanitized = os.environ.get("NOTIFYD_SANITIZERS") == "1"
    r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=None if sanitized else limit)
    return r.returncode, r.stderr, str(path)


def huge(tmp_path):
    p = tmp_path / "huge"
    p.write_bytes(SECRET.encode() + b"\n" + b"A" * 100000)
    return str(p)


def webhook(f):
    return {"webhook": {"endpoints": [{"name": "a", "url": "http://a/",
                                       "secret_file": f}]}}


def unsubscribe(f):
    return {"http": {"public_url": "https://n.example"},
            "email": {"unsubscribe_secret_file": f}}


def dkim(f):
    return {"email": {"dkim": {"domain": "example.com", "selector": "s1",
                               "key_file": f}}}


@pytest.mark.parametrize("section,key", [
    (webhook, "webhook.endpoints[0].secret_file"),
    (unsubscribe, "email.unsubscribe_secret_file"),
    (dkim, "email.dkim.key_file"),
])
@pytest.mark.parametrize("which", ["/dev/zero", "huge"])
def test_endless_or_huge_file_is_refused(tmp_path, conf, section, key,
                                         which):
    f = huge(tmp_path) if which == "huge" else which
    rc, err, path = check(tmp_path, nd.merge(conf, section(f)))
    assert rc != 0
    assert "%s: %s: %s: cannot read: File too large" % (path, key, f) \
        in err, err


@pytest.mark.parametrize("section,key", [
    (webhook, "webhook.endpoints[0].secret_file"),
    (unsubscribe, "email.unsubscribe_secret_file"),
    (dkim, "email.dkim.key_file"),
])
def test_missing_and_directory_name_file_and_key(tmp_path, conf, section,
                                                 key):
    for f, why in ((str(tmp_path / "nope"), "No such file or directory"),
                   (str(tmp_path), "Is a directory")):
        rc, err, path = check(tmp_path, nd.merge(conf, section(f)))
        assert rc != 0
        assert "%s: %s: %s: cannot read: %s" % (path, key, f, why) in err, \
            err


def test_a_good_secret_still_loads(tmp_path, conf):
    p = tmp_path / "k"
    p.write_text(SECRET + "\n")
    p.chmod(0o600)
    rc, err, _ = check(tmp_path, nd.merge(conf, webhook(str(p))))
    assert rc == 0, err
