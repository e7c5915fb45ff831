/*
 * fuzz.h - what the libFuzzer targets under t/fuzz share.
 *
 * A broken property aborts with a message; libFuzzer then saves the
 * input as crash-<sha1> and the run fails.
 */
#ifndef NOTIFYD_FUZZ_H
#define NOTIFYD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: property broken: %s: ",		\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* The input as a NUL-terminated string (cut at its first NUL). */
static inline char *
fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* 0 when every CR is followed by LF and every LF follows a CR. */
static inline size_t
fuzz_bare_crlf(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return i + 1;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return i + 1;
	}
	return 0;
}

#endif
