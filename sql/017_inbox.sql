-- The in-app inbox (issue 17, type IN_APP): read state per notification,
-- the delivery order the live stream resumes from, and the publication
-- of each delivered item to every api process (LISTEN notifyd_inbox).
--
-- An IN_APP row goes the email rows' way (row -> Kafka -> a worker's
-- claim); its "send" is this table's own update to SENT.  At that update
-- the trigger below gives the row its place in the inbox order
-- (inbox_seq) and notifies notifyd_inbox, both inside the worker's
-- transaction: the item is published exactly when it is delivered, and
-- never when the transaction rolls back.
--
-- inbox_seq is the stream's event id (Last-Event-ID).  A resume asks for
-- "everything after N", which is gap-free only if no row with a smaller
-- inbox_seq can commit after one with a larger: the trigger therefore
-- takes a transaction-level advisory lock before nextval(), held to the
-- commit, so inbox_seq order is commit order (and NOTIFY order).  Only
-- transactions delivering in-app items take it.

ALTER TABLE email_notifications
    ADD COLUMN inbox_seq bigint,
    ADD COLUMN read_at   timestamptz;

CREATE SEQUENCE email_inbox_seq;

-- User ids as text (42 and "42" are the same user, as in sql/014).
-- Newest first per user, keyset on inbox_seq; only delivered in-app rows
-- enter, so email rows pay no index entry (and their updates stay HOT).
CREATE INDEX email_notifications_inbox
    ON email_notifications ((user_id #>> '{}'), inbox_seq DESC)
    WHERE inbox_seq IS NOT NULL;
-- The unread count reads this one only: it shrinks as items are read.
CREATE INDEX email_notifications_inbox_unread
    ON email_notifications ((user_id #>> '{}'))
    WHERE inbox_seq IS NOT NULL AND read_at IS NULL;

-- Payload "SEQ USERID".  A user id longer than 256 bytes is not sent:
-- the inbox routes refuse such a {userId}, so no stream can want it.
CREATE FUNCTION email_inbox_deliver() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('notifyd_inbox', 17));
    NEW.inbox_seq := nextval('email_inbox_seq');
    IF octet_length(NEW.user_id #>> '{}') <= 256 THEN
        PERFORM pg_notify('notifyd_inbox',
                          NEW.inbox_seq || ' ' || (NEW.user_id #>> '{}'));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER email_inbox_deliver
    BEFORE UPDATE OF status ON email_notifications
    FOR EACH ROW
    WHEN (NEW.status = 'SENT' AND NEW.type = 'IN_APP'
          AND NEW.inbox_seq IS NULL)
    EXECUTE FUNCTION email_inbox_deliver();

COMMENT ON COLUMN email_notifications.inbox_seq IS
    'an IN_APP row''s place in its user''s inbox, set when it is delivered '
    '(SENT); the live stream''s event id';
COMMENT ON COLUMN email_notifications.read_at IS
    'when the user read this inbox item (POST .../inbox/{id}/read or '
    'read-all); NULL: unread';
