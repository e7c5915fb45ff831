/*
 * suppress.h - the pure rules of suppression and one-click unsubscribe:
 * which SMTP failure is about the address, what a category may be, and
 * the signed unsubscribe token and headers (RFC 8058).  No I/O.
 */
#ifndef NOTIFYD_SUPPRESS_H
#define NOTIFYD_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>

#define SUPPRESS_CATEGORY_MAX	64

bool	 suppress_address_failure(int code, const char *text);
bool	 suppress_category_valid(const char *);
char	*suppress_token(const void *secret, size_t slen, const char *uid,
	    const char *category) __attribute__((warn_unused_result));
int	 suppress_token_open(const void *secret, size_t slen, const char *token,
	    char **uid, char **category) __attribute__((warn_unused_result));
char	*suppress_headers(const char *public_url, const void *secret,
	    size_t slen, const char *uid, const char *category)
	    __attribute__((warn_unused_result));

#endif
