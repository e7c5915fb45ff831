"""The mailer's statements sent ahead (src/db_pipe.c, issue 14 §2).

The claim and the outcome write run pipelined and prepared once per
connection: when the connection's backend goes away between two batches,
the worker must reconnect, prepare them again on the new backend, and
deliver what it was told about exactly once.
"""
import nd
from test_email import email_conf, notification, post, wait_status

MAILER_SQL = ("(query LIKE '%INSERT INTO email_attempts%'"
              " OR query LIKE '%RETURNING n.id, n.title%')")


def mailer_backends(db):
    return [r[0] for r in db.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND " + MAILER_SQL)]


def sent_to(smtp, rcpt):
    return [m for m in smtp.messages() if m["rcpt_tos"] == [rcpt]]


def test_mailer_prepares_again_after_its_backend_is_killed(conf, notifyd,
                                                           smtp, db):
    d = notifyd(email_conf(conf, email={"workers": 1}))
    first = post(d, notification("first@example.com"))
    wait_status(d, first["id"], "SENT")
    (old,) = nd.wait_until(lambda: mailer_backends(db) or None, timeout=10,
                           msg="the mailer's backend")
    db.query("SELECT pg_terminate_backend(%s)", (old,))

    later = [post(d, notification("later%d@example.com" % i))["id"]
             for i in range(3)]
    for nid in later:
        wait_status(d, nid, "SENT")
    new = nd.wait_until(lambda: mailer_backends(db) or None, timeout=10,
                        msg="the mailer's new backend")
    assert old not in new
    for i in range(3):
        assert len(sent_to(smtp, "later%d@example.com" % i)) == 1
    assert len(sent_to(smtp, "first@example.com")) == 1
