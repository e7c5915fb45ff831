"""pytest fixtures for notifyd's integration tests (helpers live in nd.py).

    pg               session: throwaway PostgreSQL 15 (nd.Postgres)
    db               per test: a fresh database on pg (nd.Database)
    kafka_factory    per test: kafka_factory(topics=(), brokers=1) -> mock
    kafka            per test: one mock cluster, 1 broker, no topics
    smtp             per test: the SMTP sink (nd.SmtpServer)
    conf             per test: nd.base_conf() on db, kafka, smtp, a free port
    notifyd          per test: notifyd(conf, env=None, wait_ready=True,
                     args=()) -> nd.Notifyd; all killed at teardown

Environment: NOTIFYD_BUILDDIR (default: the repo), NOTIFYD_BIN,
NOTIFYD_KMOCK, NOTIFYD_TEST_TMP (where PostgreSQL's cluster goes).
"""
import itertools
import re

import pytest

import nd

_db_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg():
    server = nd.Postgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def db(pg, request):
    # An outage test that failed half-way may have left the server down.
    if not pg.running:
        pg.start()
    name = "t%d_%s" % (next(_db_numbers),
                       re.sub(r"[^a-z0-9_]", "_", request.node.name.lower()))
    return nd.Database(pg, name[:63])


@pytest.fixture
def kafka_factory(tmp_path):
    mocks = []

    def make(topics=(), brokers=1):
        mocks.append(nd.KafkaMock(str(tmp_path), topics, brokers))
        return mocks[-1]

    yield make
    for mock in mocks:
        mock.stop()


@pytest.fixture
def kafka(kafka_factory):
    return kafka_factory()


@pytest.fixture
def smtp(tmp_path):
    server = nd.SmtpServer(str(tmp_path))
    yield server
    server.stop()


@pytest.fixture
def conf(db, kafka, smtp):
    return nd.base_conf(db.conninfo, kafka.bootstrap, smtp.url,
                        nd.free_port())


@pytest.fixture
def notifyd(tmp_path):
    daemons = []

    def start(conf, env=None, wait_ready=True, args=()):
        d = nd.Notifyd(str(tmp_path), conf, env, args)
        daemons.append(d)
        if wait_ready:
            d.wait_ready()
        return d

    yield start
    for d in daemons:
        # Shown by pytest only when the test failed.
        print("--- notifyd pid %d log (%s), last lines:\n%s"
              % (d.pid, d.logfile, nd.tail(d.logfile)))
        d.cleanup()
