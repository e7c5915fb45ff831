-- pgbench script: the one-row INSERT a POST makes (src/api_notify.c),
-- without the Idempotency-Key (as the wrk POSTs), into the same table.
INSERT INTO email_notifications (idempotency_key, request_hash, title,
    content, user_id, recipient, from_addr, metadata)
VALUES (NULL, NULL, 'Payment Confirmation',
    '<p>Your payment has been confirmed.</p>', '123'::jsonb,
    'user@example.com', NULL, '{"orderId":"ORD-12345","amount":99.99}'::jsonb)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, extract(epoch from created_at)::bigint;
