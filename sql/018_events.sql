-- Delivery events (issue 17): an outbox the events role (events.c) reads
-- and POSTs, signed, to events.endpoint (a webhook endpoint).
--
-- Rows are written by triggers in the transaction that changes the
-- notification, whoever changes it (mailer, webhook worker, api, sweeper):
-- an event exists exactly when its outcome is committed, and survives any
-- restart.  Delivery is at-least-once: a row is marked delivered only
-- after the endpoint's 2xx, so a sender killed between the two sends it
-- again; the receiver dedupes on its id (webhook-id "evt_<id>").
--
-- Types: notification.sent (messageId), notification.failed (code and
-- text of the last attempt; permanent says whether a requeue may still
-- follow), notification.suppressed (reason), notification.cancelled, and
-- with events.attempts notification.attempt (one per attempt).
--
-- Recording is on while delivery_event_settings says so: the events role
-- sets it at its start from events.endpoint and events.attempts, and the
-- sweeper clears it when events.endpoint is empty, so that an outbox
-- nobody reads does not grow.

CREATE TABLE delivery_event_settings (
    id        integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    enabled   boolean NOT NULL DEFAULT false,
    attempts  boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO delivery_event_settings DEFAULT VALUES;

CREATE TABLE delivery_events (
    id               bigserial PRIMARY KEY,
    type             text NOT NULL,
    notification_id  bigint NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    data             jsonb NOT NULL DEFAULT '{}',   -- the type's own members
    delivered_at     timestamptz,                   -- NULL: still to send
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    lease_owner      text,
    last_error       text
);
-- The sender's work list: only what is left to send.
CREATE INDEX delivery_events_pending ON delivery_events (id)
    WHERE delivered_at IS NULL;

-- The members of the event of a row that reached a terminal status.
CREATE FUNCTION delivery_event_data(nid bigint, status text, msgid text,
                                    attempts integer, permanent boolean,
                                    last_error text, reason text, channel text)
    RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('channel', channel) || CASE status
        WHEN 'SENT' THEN jsonb_build_object('messageId', msgid,
            'attempts', attempts)
        WHEN 'FAILED' THEN jsonb_build_object(
            'code', (SELECT smtp_code FROM email_attempts
                     WHERE notification_id = nid
                     ORDER BY attempt DESC LIMIT 1),
            'text', last_error, 'permanent', permanent,
            'attempts', attempts)
        WHEN 'SUPPRESSED' THEN jsonb_build_object('reason', reason)
        ELSE '{}'::jsonb
    END
$$;

CREATE FUNCTION delivery_events_on_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT enabled FROM delivery_event_settings) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO delivery_events (type, notification_id, data)
        SELECT 'notification.' || lower(n.status), n.id,
               delivery_event_data(n.id, n.status, n.message_id, n.attempts,
                   n.permanent, n.last_error, n.suppressed_reason, n.type)
        FROM n WHERE n.status IN ('SUPPRESSED', 'CANCELLED') ORDER BY n.id;
    ELSE
        INSERT INTO delivery_events (type, notification_id, data)
        SELECT 'notification.' || lower(n.status), n.id,
               delivery_event_data(n.id, n.status, n.message_id, n.attempts,
                   n.permanent, n.last_error, n.suppressed_reason, n.type)
        FROM n JOIN o ON o.id = n.id
        WHERE n.status IS DISTINCT FROM o.status
          AND n.status IN ('SENT', 'FAILED', 'SUPPRESSED', 'CANCELLED')
        ORDER BY n.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_events_insert AFTER INSERT ON email_notifications
    REFERENCING NEW TABLE AS n
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_events_on_change();
CREATE TRIGGER delivery_events_update AFTER UPDATE ON email_notifications
    REFERENCING NEW TABLE AS n OLD TABLE AS o
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_events_on_change();

-- events.attempts: one event per attempt, as history records it.
CREATE FUNCTION delivery_events_on_attempt() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT enabled AND attempts FROM delivery_event_settings) THEN
        RETURN NULL;
    END IF;
    INSERT INTO delivery_events (type, notification_id, at, data)
    SELECT 'notification.attempt', a.notification_id, a.at,
           jsonb_build_object('attempt', a.attempt, 'code', a.smtp_code,
                              'text', a.smtp_text, 'outcome', a.outcome)
    FROM a ORDER BY a.notification_id, a.attempt;
    RETURN NULL;
END $$;

CREATE TRIGGER delivery_events_attempt AFTER INSERT ON email_attempts
    REFERENCING NEW TABLE AS a
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_events_on_attempt();
