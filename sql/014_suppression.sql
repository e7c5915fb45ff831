-- Suppression list and per-user preferences (issue 16).
--
-- A notification to a suppressed address, or of a category its user
-- opted out of, is stored SUPPRESSED (with the reason) and never sent.
-- The status list also names SCHEDULED and CANCELLED (migration 009):
-- whichever of the two migrations runs last leaves every status valid.

-- Every CHECK on status goes, whatever its name, before the full list.
DO $$
DECLARE c name;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'email_notifications'::regclass
               AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%(status = ANY%'
    LOOP
        EXECUTE format('ALTER TABLE email_notifications DROP CONSTRAINT %I', c);
    END LOOP;
END $$;
ALTER TABLE email_notifications
    ADD CONSTRAINT email_notifications_status_check
    CHECK (status IN ('PENDING', 'PROCESSING', 'SENT', 'FAILED',
                      'SCHEDULED', 'CANCELLED', 'SUPPRESSED'));
ALTER TABLE email_notifications
    ADD COLUMN IF NOT EXISTS suppressed_reason text
        CHECK (suppressed_reason IN ('bounce', 'manual', 'preference')),
    ADD COLUMN IF NOT EXISTS category text;

-- RFC 5321: the local part is case-sensitive, the domain is not.  The
-- key keeps the local part as written and lowers the domain (after the
-- last @: a quoted local part may hold one).
CREATE FUNCTION email_suppression_key(addr text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(addr, '@') = 0 THEN addr
        ELSE left(addr, length(addr) - strpos(reverse(addr), '@')) || '@'
             || lower(right(addr, strpos(reverse(addr), '@') - 1)) END
$$;

CREATE TABLE email_suppressions (
    address_key  text PRIMARY KEY,          -- email_suppression_key(address)
    address      text NOT NULL,             -- as first seen
    reason       text NOT NULL CHECK (reason IN ('bounce', 'manual')),
    code         integer,                   -- SMTP reply code of a bounce
    text         text,                      -- the relay's reply, or a note
    notification_id bigint,                 -- the bounced notification
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The categories a user opted out of; user ids as text (42 and "42" are
-- the same user here).
CREATE TABLE email_preferences (
    user_id      text PRIMARY KEY,
    opted_out    text[] NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Why a notification is not to be sent, or NULL: one call per row of the
-- POST's group INSERT (and of a mailer's claim), two primary-key probes at
-- most.  self_id (the claim's row) ignores the entry that row's own bounce
-- made: a retry by hand of the bounced notification is the operator's
-- deliberate choice.
CREATE FUNCTION email_suppression_reason(rcpt text, uid jsonb, cat text,
                                         self_id bigint DEFAULT NULL)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT s.reason FROM email_suppressions s
         WHERE s.address_key = email_suppression_key(rcpt)
           AND (self_id IS NULL OR s.notification_id IS DISTINCT FROM self_id)),
        CASE WHEN cat IS NOT NULL AND EXISTS (SELECT 1 FROM email_preferences p
                 WHERE p.user_id = uid #>> '{}' AND cat = ANY (p.opted_out))
             THEN 'preference' END)
$$;

COMMENT ON COLUMN email_notifications.suppressed_reason IS
    'why a SUPPRESSED row was never sent: bounce or manual (the address is '
    'on email_suppressions), preference (its user opted out of category)';
COMMENT ON COLUMN email_notifications.category IS
    'the POST''s category; NULL = transactional (no List-Unsubscribe, never '
    'suppressed by a preference)';
