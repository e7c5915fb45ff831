-- The seed's endpoints (/order/{id}, /customer/{id}/notifications) must
-- return the rows seed 003's code would have matched.  Our order_id and
-- customer_id read more fallbacks than the seed (the top level when the
-- payload lacks the id, customerId when customer_id is null), so a row
-- found by their index is checked again with the seed's own reading:
-- payload.get(a, payload.get(b, '')) through str(), where 'None', 'null'
-- and '' mean none.  Numbers and booleans are read by both the same way
-- (the role prints them as Python's str() does); a message the seed
-- could not have stored (not an object, a payload that is not an
-- object) is matched by our column alone.
CREATE FUNCTION audit_seed_match(ev jsonb, a text, b text, want text)
    RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(ev) IS DISTINCT FROM 'object'
            OR jsonb_typeof(coalesce(ev -> 'payload', ev)) <> 'object'
            THEN true
        ELSE (SELECT CASE jsonb_typeof(v)
                WHEN 'string' THEN v #>> '{}' = want
                    AND want NOT IN ('None', 'null', '')
                WHEN 'number' THEN true
                WHEN 'boolean' THEN true
                ELSE false END
            FROM (SELECT CASE WHEN p ? a THEN p -> a ELSE p -> b END AS v
                FROM (SELECT coalesce(ev -> 'payload', ev) AS p) x) y)
    END
$$;
