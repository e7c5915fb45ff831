-- Email notifications accepted by POST /notification_service/api/notifications
-- (seed 004's shape), their delivery state, and every SMTP attempt.
--
-- Status: PENDING   stored, not yet acknowledged by Kafka
--         PROCESSING queued on the email topic (a worker may hold a lease)
--         SENT      the relay answered 250
--         FAILED    attempts spent (requeued by the sweeper unless permanent)

CREATE TABLE email_notifications (
    id               bigserial PRIMARY KEY,
    idempotency_key  text UNIQUE,
    request_hash     text,
    type             text NOT NULL DEFAULT 'EMAIL',
    title            text NOT NULL,
    content          text NOT NULL,
    user_id          jsonb NOT NULL,
    recipient        text NOT NULL,
    from_addr        text,
    metadata         jsonb,
    status           text NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'PROCESSING', 'SENT', 'FAILED')),
    attempts         integer NOT NULL DEFAULT 0,
    requeues         integer NOT NULL DEFAULT 0,
    permanent        boolean NOT NULL DEFAULT false,
    last_error       text,
    next_attempt_at  timestamptz,
    lease_until      timestamptz,
    lease_owner      text,
    queued_at        timestamptz,
    message_id       text,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX email_notifications_recipient ON email_notifications (recipient, id DESC);
CREATE INDEX email_notifications_user ON email_notifications (user_id, id DESC);
-- The sweeper's work list stays small: only rows that may need it.
CREATE INDEX email_notifications_sweep ON email_notifications (status, next_attempt_at)
    WHERE status IN ('PENDING', 'PROCESSING', 'FAILED');
CREATE INDEX email_notifications_status ON email_notifications (status, id DESC);

CREATE TABLE email_attempts (
    notification_id  bigint NOT NULL REFERENCES email_notifications (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    smtp_code        integer,
    smtp_text        text,
    outcome          text NOT NULL,
    PRIMARY KEY (notification_id, attempt)
);
