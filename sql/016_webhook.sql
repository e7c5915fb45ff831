-- Webhooks (issue 17): a notification of type WEBHOOK names one of the
-- configuration's webhook.endpoints (stored in recipient: the endpoint's
-- name, never a URL) and is delivered by the webhook workers.  Its
-- attempts go in email_attempts like SMTP attempts: smtp_code holds the
-- HTTP status (NULL when none came: a timeout or a connection failure),
-- smtp_text a capped, UTF-8-safe excerpt of the answer.
--
-- An endpoint that answers 410 Gone is disabled here until an operator
-- re-enables it (POST .../webhooks/endpoints/{name}/enable): while it is,
-- its notifications fail permanently without a request.  The list of
-- endpoints itself stays in the configuration; this table holds only
-- their state, keyed by name.

CREATE TABLE webhook_endpoints (
    name             text PRIMARY KEY,
    disabled_at      timestamptz,           -- NULL: enabled
    disabled_code    integer,               -- the status that disabled it (410)
    disabled_text    text,                  -- excerpt of that answer
    disabled_by      bigint,                -- the notification it answered
    enabled_at       timestamptz,           -- last re-enabled by hand
    updated_at       timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE webhook_endpoints IS
    'state of the webhook.endpoints of the configuration: disabled by a 410 '
    'until re-enabled by hand';
