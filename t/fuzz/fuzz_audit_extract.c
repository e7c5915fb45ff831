/*
 * fuzz_audit_extract.c - the audit role's reading of a Kafka message
 * (src/audit_extract.c): field extraction, bytes as JSON, headers.
 *
 * Properties: every extracted field is valid UTF-8 without NUL (it goes
 * to a text column) and at most AUDIT_FIELD_MAX bytes; event_type is
 * never empty; bytes become JSON that jansson can dump, text exactly
 * as given, anything else as padded base64; a UTF-8 cut stays in bounds
 * and on a character boundary.  The seed's view (src/audit_seed.c) of
 * any JSON object: its jsonify bytes are ASCII, end in a newline and
 * read back as the same JSON.
 */
#include "config.h"

#include "audit_extract.h"
#include "audit_seed.h"
#include "fuzz.h"

/* The fast scanner (audit_scan.c) reads what jansson's path reads. */
static void
fuzz_check_same(const struct audit_fields *f, const uint8_t *data,
    size_t size)
{
	struct audit_fields r;
	int i;

	audit_extract_parsed(&r, data, size);
	FUZZ_CHECK(f->json == r.json, "JSON %d, jansson says %d", f->json,
	    r.json);
	for (i = 0; i < AUDIT_F_MAX; i++)
		FUZZ_CHECK((f->f[i].p == NULL) == (r.f[i].p == NULL) &&
		    f->f[i].len == r.f[i].len && (f->f[i].p == NULL ||
		    memcmp(f->f[i].p, r.f[i].p, r.f[i].len) == 0),
		    "%s differs from jansson's", audit_field_name(i));
	audit_extract_clear(&r);
}

static void
fuzz_check_fields(const uint8_t *data, size_t size)
{
	struct audit_fields f;
	int i;

	audit_extract(&f, data, size);
	for (i = 0; i < AUDIT_F_MAX; i++) {
		if (f.f[i].p == NULL)
			continue;
		FUZZ_CHECK(f.f[i].len <= AUDIT_FIELD_MAX, "%s: %zu bytes",
		    audit_field_name(i), f.f[i].len);
		FUZZ_CHECK(audit_utf8_text(f.f[i].p, f.f[i].len),
		    "%s is not UTF-8 text", audit_field_name(i));
	}
	FUZZ_CHECK(f.f[AUDIT_F_EVENT_TYPE].p != NULL &&
	    f.f[AUDIT_F_EVENT_TYPE].len > 0, "no event_type");
	fuzz_check_same(&f, data, size);
	audit_extract_clear(&f);
}

static void
fuzz_check_bytes(const uint8_t *data, size_t size)
{
	const char *enc;
	json_t *j = audit_bytes_json(data, size, &enc);
	char *dump;

	FUZZ_CHECK(j != NULL && enc != NULL, "no JSON for %zu bytes", size);
	if (strcmp(enc, "utf-8") == 0)
		FUZZ_CHECK(json_string_length(j) == size &&
		    memcmp(json_string_value(j), data, size) == 0,
		    "text changed");
	else
		FUZZ_CHECK(strcmp(enc, "base64") == 0 &&
		    json_string_length(j) == (size + 2) / 3 * 4,
		    "encoding %s, %zu bytes", enc, json_string_length(j));
	FUZZ_CHECK((dump = json_dumps(j, JSON_ENCODE_ANY)) != NULL,
	    "jansson cannot dump it");
	free(dump);
	json_decref(j);
}

/* Header: the name is the text before the first NUL, the value the rest. */
static void
fuzz_check_header(const uint8_t *data, size_t size)
{
	char *name = fuzz_cstr(data, size), *dump;
	size_t nlen = strlen(name);
	json_t *h;

	h = audit_header_json(name, nlen < size ? data + nlen + 1 : NULL,
	    nlen < size ? size - nlen - 1 : 0);
	FUZZ_CHECK(h != NULL, "no header JSON");
	FUZZ_CHECK((dump = json_dumps(h, 0)) != NULL, "jansson cannot dump it");
	free(dump);
	json_decref(h);
	free(name);
}

static void
fuzz_check_cut(const uint8_t *data, size_t size)
{
	size_t max = size > 0 ? data[0] : 0;
	size_t n = audit_utf8_cut((const char *)data, size, max);

	FUZZ_CHECK(n <= max && n <= size, "cut %zu of %zu at most %zu", n,
	    size, max);
	if (audit_utf8_text(data, size))
		FUZZ_CHECK(audit_utf8_text(data, n), "cut %zu splits a "
		    "character", n);
}

static void
fuzz_check_seed(const uint8_t *data, size_t size)
{
	json_t *msg = audit_json_load((const char *)data, size), *back;
	struct audit_seed s;
	char *out;
	size_t i, n;

	if (msg == NULL || audit_seed_read(&s, msg, "t", "ts") == -1) {
		json_decref(msg);
		return;
	}
	FUZZ_CHECK((out = audit_seed_dumps(s.event)) != NULL, "no bytes");
	n = strlen(out);
	FUZZ_CHECK(n > 0 && out[n - 1] == '\n', "no final newline");
	for (i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)out[i] < 0x80, "byte %zu not ASCII", i);
	back = json_loads(out, JSON_ALLOW_NUL, NULL);
	FUZZ_CHECK(back != NULL && json_equal(back, s.event),
	    "does not read back: %s", out);
	json_decref(back);
	free(out);
	audit_seed_clear(&s);
	json_decref(msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_check_fields(data, size);
	fuzz_check_bytes(data, size);
	fuzz_check_header(data, size);
	fuzz_check_cut(data, size);
	fuzz_check_seed(data, size);
	return 0;
}
