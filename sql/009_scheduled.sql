-- Scheduled sends (issue 15): a POST with a future sendAt is stored
-- SCHEDULED with send_at and produced to the email topic only once due;
-- the sweeper role's due scan moves it to PENDING (sweeper_due.c).  A
-- cancel (POST .../{id}/cancel) makes a row that no mailer has claimed
-- CANCELLED, which no mailer claim or sweep ever picks up.
--
-- Status, in addition to 001's:
--   SCHEDULED  stored with a future send_at; not on the email topic
--   CANCELLED  cancelled before a mailer claimed it; never sent

ALTER TABLE email_notifications ADD COLUMN send_at timestamptz;

ALTER TABLE email_notifications DROP CONSTRAINT email_notifications_status_check;
ALTER TABLE email_notifications ADD CONSTRAINT email_notifications_status_check
    CHECK (status IN ('PENDING', 'PROCESSING', 'SENT', 'FAILED',
                      'SCHEDULED', 'CANCELLED'));

-- The due scan reads the head of this index only: rows scheduled far
-- ahead (a million of them) cost it nothing, and rows sent at once never
-- enter it, so the POST path pays no extra index entry.
CREATE INDEX email_notifications_due ON email_notifications (send_at)
    WHERE status = 'SCHEDULED';

COMMENT ON COLUMN email_notifications.send_at IS
    'the sendAt of a POST that was in the future at acceptance: the row '
    'stays SCHEDULED until then; NULL when sent at once';
