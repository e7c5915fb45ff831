-- Email templates (issue 15): Mustache sources, versioned.  Every PUT adds
-- a version; nothing is ever overwritten, so a notification's template
-- name and version (columns added to email_notifications below) always
-- name the exact sources it was rendered from.
--
-- email_template_names holds one row per name: the latest version, and
-- since when the name is deleted.  It is what a POST reads to resolve
-- "the latest version" (one primary-key lookup), and its row lock
-- serialises concurrent PUTs of one name (INSERT ... ON CONFLICT DO
-- UPDATE), so versions are 1, 2, 3... without gaps or duplicates.
-- first_live is the first version saved after the latest DELETE: older
-- versions stay readable (GET ?version=) but can no longer be sent.

CREATE TABLE email_template_names (
    name        text PRIMARY KEY,
    latest      integer NOT NULL,
    first_live  integer NOT NULL DEFAULT 1,
    deleted_at  timestamptz
);

CREATE TABLE email_templates (
    name            text NOT NULL REFERENCES email_template_names (name),
    version         integer NOT NULL CHECK (version > 0),
    subject         text NOT NULL,
    html            text NOT NULL,
    text            text,
    -- {"de": {"subject": ..., "html": ..., "text": ...}, ...}
    locales         jsonb NOT NULL DEFAULT '{}',
    default_locale  text,
    strict          boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted         boolean NOT NULL DEFAULT false,
    deleted_at      timestamptz,
    PRIMARY KEY (name, version)
);

-- Every api process remembers each name's row and forgets it when told:
-- this trigger notifies channel notifyd_templates (payload: the name) at
-- the commit of any change to a name, whoever makes it.
CREATE FUNCTION email_template_names_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifyd_templates',
                      CASE TG_OP WHEN 'DELETE' THEN OLD.name ELSE NEW.name END);
    RETURN NULL;
END
$$;

CREATE TRIGGER email_template_names_notify
    AFTER INSERT OR UPDATE OR DELETE ON email_template_names
    FOR EACH ROW EXECUTE FUNCTION email_template_names_notify();

-- What a templated notification was rendered from, and its text part:
-- when the template has one, the mailer sends it as it is instead of
-- deriving text from the HTML.  NULL for notifications without template.
ALTER TABLE email_notifications
    ADD COLUMN template_name     text,
    ADD COLUMN template_version  integer,
    ADD COLUMN locale            text,
    ADD COLUMN text_part         text;
