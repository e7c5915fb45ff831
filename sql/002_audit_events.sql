-- The Kafka audit log (seed 003's "notifications" table, renamed so it does
-- not clash with email_notifications) and the audit role's offsets.
--
-- Every Kafka message becomes one row, written by the audit role with COPY;
-- the UNIQUE (source_topic, partition, "offset") makes a replay harmless.
-- Manual rows (POST /send-notification) have no partition and no offset.
-- Text fields extracted from JSON are cut to 255 bytes by the role, so
-- they always fit their column and their index.

CREATE TABLE audit_events (
    id               bigserial PRIMARY KEY,        -- keyset pagination cursor
    notification_id  uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    customer_id      varchar(255),
    runner_id        varchar(255),
    order_id         varchar(255),
    event            jsonb,                        -- NULL when not JSON
    status           varchar(50) NOT NULL DEFAULT 'captured',
    created_at       timestamptz NOT NULL DEFAULT now(),

    -- Kafka metadata, as in seed 003
    source_topic     varchar(255) NOT NULL,
    event_type       varchar(255) NOT NULL,
    correlation_id   varchar(255),
    source_service   varchar(255),

    -- the message itself, byte-exact
    partition        integer,
    "offset"         bigint,
    key              bytea,
    value            bytea,                        -- NULL = tombstone
    headers          jsonb,    -- [{"key":k,"value":v,"encoding":"utf-8"|"base64"}]
    kafka_ts         timestamptz,
    kafka_ts_type    text CHECK (kafka_ts_type IN ('create', 'log_append')),

    UNIQUE (source_topic, partition, "offset")
);

-- The seed's queries (by order, by customer, newest first) and the
-- /audit/events filters, each ending in id for the keyset order.
CREATE INDEX audit_events_order ON audit_events (order_id, id);
CREATE INDEX audit_events_customer ON audit_events (customer_id, id);
CREATE INDEX audit_events_created ON audit_events (created_at, id);
CREATE INDEX audit_events_type ON audit_events (event_type, id);
CREATE INDEX audit_events_correlation ON audit_events (correlation_id, id)
    WHERE correlation_id IS NOT NULL;

-- Where each consumer group stands: the offset of the last message of a
-- partition committed in audit_events, in the same transaction as its rows.
CREATE TABLE kafka_offsets (
    group_id    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- The replay path's cast: a value PostgreSQL will not take as jsonb is kept
-- as bytes only (event NULL) instead of failing its whole batch.
CREATE FUNCTION audit_try_jsonb(t text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN t::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;
