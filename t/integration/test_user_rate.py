"""email.user_rate: accepted notifications per userId, exact across processes
and instances sharing one database (the counter lives in PostgreSQL and is
taken in the transaction that stores the rows: api_store_rate.c)."""
import concurrent.futures
import json
import subprocess
import time

import pytest

import nd

PATH = "/notification_service/api/notifications"


def rate_conf(conf, rate, **over):
    c = nd.merge(conf, {
        "http": {"processes": 2, "port": nd.free_port()},
        "email": {"enabled": True, "workers": 0, "user_rate": rate},
    })
    return nd.merge(c, over)


def body(user, n=0):
    return {"type": "EMAIL", "title": "Alert %d" % n, "content": "<p>x</p>",
            "userId": user, "recipient": "user@example.com"}


def away_from_boundary(window, margin):
    """Waits until the current fixed window has at least margin s left."""
    left = window - time.time() % window
    if left < margin:
        time.sleep(left + 0.2)


def stored(db, user):
    return db.scalar("SELECT count(*) FROM email_notifications "
                     "WHERE user_id = %s::jsonb", (json.dumps(user),))


def assert_429(status, resp, headers, window):
    assert status == 429, resp
    assert resp["status"] == 429 and resp["field"] == "userId", resp
    assert "email.user_rate" in resp["detail"]
    assert headers["Content-Type"].startswith("application/problem+json")
    ra = int(headers["Retry-After"])
    assert 1 <= ra <= window, ra
    return ra


def test_limit_is_exact_across_two_instances(conf, notifyd, db):
    limit = 10
    away_from_boundary(3600, 60)
    a = notifyd(rate_conf(conf, "%d/hour" % limit))
    b = notifyd(rate_conf(conf, "%d/hour" % limit))
    jobs = [("alice", i) for i in range(48)] + [("bob", i) for i in range(8)]
    jobs.sort(key=lambda j: (j[1] % 7, j[0]))     # users interleaved

    def one(k):
        user, i = jobs[k]
        d = a if k % 2 else b
        status, resp, headers = d.post(PATH, json=body(user, i))
        return user, status, resp, headers

    with concurrent.futures.ThreadPoolExecutor(24) as ex:
        results = list(ex.map(one, range(len(jobs))))
    ok = {"alice": 0, "bob": 0}
    for user, status, resp, headers in results:
        if status == 202:
            ok[user] += 1
            continue
        assert user == "alice"
        ra = assert_429(status, resp, headers, 3600)
        assert abs(ra - (3600 - time.time() % 3600)) < 5
    assert ok == {"alice": limit, "bob": 8}
    assert stored(db, "alice") == limit
    assert stored(db, "bob") == 8
    # Still refused on either instance; another user still accepted.
    for d in (a, b):
        assert_429(*d.post(PATH, json=body("alice")), 3600)
    status, resp, _ = a.post(PATH, json=body("carol"))
    assert status == 202, resp
    assert db.scalar("SELECT used FROM user_rate WHERE user_id = '\"alice\"'"
                     ) == limit


def test_replays_do_not_count(conf, notifyd, db):
    away_from_boundary(3600, 30)
    d = notifyd(rate_conf(conf, "3/hour"))
    key = {"Idempotency-Key": "rate-replay-1"}
    status, first, _ = d.post(PATH, json=body("dave"), headers=key)
    assert status == 202, first
    for _ in range(5):
        status, again, _ = d.post(PATH, json=body("dave"), headers=key)
        assert status == 202 and again["id"] == first["id"], again
    for i in (1, 2):
        status, resp, _ = d.post(PATH, json=body("dave", i))
        assert status == 202, resp
    # The limit is reached: a new key is refused and leaves no row (so the
    # key may be used again later); the stored one still replays.
    late = {"Idempotency-Key": "rate-replay-2"}
    assert_429(*d.post(PATH, json=body("dave", 3), headers=late), 3600)
    assert db.scalar("SELECT count(*) FROM email_notifications "
                     "WHERE idempotency_key = 'rate-replay-2'") == 0
    status, again, _ = d.post(PATH, json=body("dave"), headers=key)
    assert status == 202 and again["id"] == first["id"], again
    assert stored(db, "dave") == 3


def test_window_rolls_over(conf, notifyd, db):
    d = notifyd(rate_conf(conf, "3/second"))
    accepted, refused = 0, 0
    deadline = time.time() + 10
    while refused == 0 and time.time() < deadline:
        status, resp, headers = d.post(PATH, json=body("erin"))
        if status == 202:
            accepted += 1
        else:
            assert assert_429(status, resp, headers, 1) == 1
            refused += 1
    assert refused == 1 and accepted >= 3
    time.sleep(1.05)                # the next window
    status, resp, _ = d.post(PATH, json=body("erin"))
    assert status == 202, resp
    # Every window admitted at most the limit, and each unit is a row.
    rows = db.query("SELECT used FROM user_rate "
                    "WHERE user_id = '\"erin\"'")
    assert all(r[0] <= 3 for r in rows), rows
    assert sum(r[0] for r in rows) == stored(db, "erin") == accepted + 1


def test_user_ids_of_any_json_type(conf, notifyd, db):
    """42 and "42" are one user, as for preferences; odd strings are fine."""
    away_from_boundary(60, 10)
    d = notifyd(rate_conf(conf, "1/minute"))
    for user in (42, "\u00e9\u2028\"'; DROP", -7):
        status, resp, _ = d.post(PATH, json=body(user))
        assert status == 202, (user, resp)
        assert_429(*d.post(PATH, json=body(user)), 60)
        assert stored(db, user) == 1
    # the same user written the other way shares the spent limit
    for user in ("42", "-7"):
        assert_429(*d.post(PATH, json=body(user)), 60)
        assert stored(db, user) == 0
    assert db.scalar("SELECT count(*) FROM user_rate WHERE user_id IN"
                     " ('\"42\"', '\"-7\"')") == 2


def test_sweeper_drops_ended_windows(conf, notifyd, db):
    d = notifyd(rate_conf(conf, "5/minute",
                          sweeper={"enabled": True, "interval": 0.2}))
    status, resp, _ = d.post(PATH, json=body("frank"))
    assert status == 202, resp
    db.query("INSERT INTO user_rate VALUES ('\"old\"', now() - "
             "interval '1 minute', 5, 5)")
    nd.wait_until(lambda: db.scalar("SELECT count(*) FROM user_rate "
                                    "WHERE user_id = '\"old\"'") == 0,
                  msg="the ended window swept")
    assert db.scalar("SELECT used FROM user_rate "
                     "WHERE user_id = '\"frank\"'") == 1


def test_off_by_default(conf, notifyd, db):
    d = notifyd(nd.merge(conf, {"email": {"enabled": True, "workers": 0}}))
    for i in range(30):
        status, resp, _ = d.post(PATH, json=body("gina", i))
        assert status == 202, resp
    assert db.scalar("SELECT count(*) FROM user_rate") == 0


@pytest.mark.parametrize("value", [
    "0/hour", "5/fortnight", "abc", "5/ hour", "-1/hour", "5/hour\n",
    "1000001/day", "5/Hour", "5", "/hour", "5//hour", "99999999999/hour"])
def test_invalid_user_rate_is_a_config_error(tmp_path, conf, value):
    path = tmp_path / "t.conf"
    path.write_text(nd.libconfig(rate_conf(conf, value)) + "\n")
    r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "email.user_rate" in r.stderr, r.stderr


def test_valid_user_rates(tmp_path, conf):
    for value in ("1/second", "20/hour", "100/day", "1000000/minute", ""):
        path = tmp_path / "t.conf"
        path.write_text(nd.libconfig(rate_conf(conf, value)) + "\n")
        r = subprocess.run([nd.notifyd_path(), "-t", "-c", str(path)],
                           capture_output=True, text=True)
        assert r.returncode == 0, (value, r.stderr)


def test_refused_row_takes_no_unit_and_fails_alone(conf, notifyd, db):
    """A row PostgreSQL refuses (422) in a group: the others are stored or
    limited as if it were not there, and it spends nothing."""
    away_from_boundary(3600, 30)
    d = notifyd(rate_conf(conf, "5/hour"))
    assert d.post(PATH, json=body("warmup"))[0] == 202      # migrated
    db.query("ALTER TABLE email_notifications ADD CONSTRAINT t_no_forbidden"
             " CHECK (title <> 'forbidden title')")
    jobs = [body("hank", i) for i in range(9)]
    jobs[4]["title"] = "forbidden title"
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        out = list(ex.map(lambda b: d.post(PATH, json=b), jobs))
    statuses = [s for s, _, _ in out]
    assert statuses[4] == 422, out[4]
    rest = statuses[:4] + statuses[5:]
    assert sorted(rest) == [202] * 5 + [429] * 3, out
    assert stored(db, "hank") == 5
    assert db.scalar("SELECT used FROM user_rate "
                     "WHERE user_id = '\"hank\"'") == 5
