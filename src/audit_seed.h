/*
 * audit_seed.h - a recorded message as seed 003's code showed it.
 *
 * Pure code (jansson only): the seed's poll_kafka_once() extraction and
 * its to_dict() values, for the seed's endpoints (/order, /customer).
 * Our own columns (audit_extract.h) read more fallbacks; these
 * functions answer only "what would the seed have returned".
 */
#ifndef NOTIFYD_AUDIT_SEED_H
#define NOTIFYD_AUDIT_SEED_H

#include <stddef.h>

#include <jansson.h>

/* What the seed stored for one message, as to_dict returns it. */
struct audit_seed {
	json_t	*event_type;		/* string, or null */
	json_t	*correlation_id;
	json_t	*source_service;
	json_t	*customer_id;		/* string ('' when missing) */
	json_t	*runner_id;		/* string, or null when missing */
	json_t	*order_id;		/* string ('' when missing) */
	json_t	*event;			/* the seed's wrapper object */
};

/*
 * Fills s from a message parsed as JSON (msg), its topic and the time
 * it was recorded (timestamp, the seed's isoformat()).  -1 when the
 * seed could not have recorded it (not an object, a payload that is
 * not an object); s is then empty.  Free with audit_seed_clear().
 */
int	 audit_seed_read(struct audit_seed *s, json_t *msg, const char *topic,
	    const char *timestamp) __attribute__((warn_unused_result));
void	 audit_seed_clear(struct audit_seed *s);

/* Python's str() of a JSON value (1.0 -> "1.0", true -> "True"); NULL
 * when out of memory.  Objects and arrays come out as compact JSON. */
char	*audit_seed_str(json_t *v) __attribute__((warn_unused_result));
/* Python's repr() of a double into buf ("1e+16", "0.1", "-0.0"). */
void	 audit_seed_float(double d, char *buf, size_t len);
/* A deep copy whose objects have their keys in sorted (Flask) order. */
json_t	*audit_seed_sorted(json_t *v);
/* The bytes Flask's jsonify sent for v (its keys already sorted):
 * compact, ASCII only with lower-case \uXXXX, floats as repr(), then a
 * newline.  NULL when out of memory. */
char	*audit_seed_dumps(json_t *v) __attribute__((warn_unused_result));
/* Python's datetime.isoformat() of "YYYY-MM-DDTHH:MM:SS.ffffff": the
 * fraction goes when it is zero.  Edits s in place. */
void	 audit_seed_isoformat(char *s);

#endif
