-- Email notifications accepted by POST /notification_service/api/notifications
-- (the Go email service's shape), their delivery state, and every SMTP
-- attempt.
--
-- Status (stored; since 003 the API also shows a PENDING row whose
-- queued_at is set as PROCESSING):
--   PENDING    stored; Kafka's ack only sets queued_at (003), and a
--              requeue by hand (POST .../retry) returns a row here
--   PROCESSING claimed by a mailer worker (lease_until, lease_owner), or
--              waiting for its next attempt after a 4xx (next_attempt_at)
--   SENT       the relay answered 250
--   FAILED     a 5xx (permanent: the sweeper leaves it) or
--              email.retry.max_attempts spent (the sweeper requeues it
--              after next_attempt_at, up to sweeper.max_requeues times)
--   SCHEDULED, CANCELLED: since 009 (scheduled sends and cancel)

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
