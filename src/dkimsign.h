/*
 * dkimsign.h - DKIM signatures on outgoing mail (libopendkim), used by
 * the mailer.  Named so, not dkim_*: that prefix is libopendkim's.
 */
#ifndef NOTIFYD_DKIMSIGN_H
#define NOTIFYD_DKIMSIGN_H

#include <stddef.h>

struct dkimsign;

/* What to sign with: email.dkim.* and the key conf_dkim_load read. */
struct dkimsign_opts {
	const char	*key;		/* PEM text of the RSA private key */
	const char	*selector;
	const char	*domain;
	char *const	*headers;	/* header field names to sign */
	int		 nheaders;
};

struct dkimsign	*dkimsign_new(const struct dkimsign_opts *, char *err,
		    size_t len) __attribute__((warn_unused_result));
void		 dkimsign_free(struct dkimsign *);
int		 dkimsign_message(struct dkimsign *, const char *id, char **msg,
		    size_t *len, char *err, size_t errlen)
		    __attribute__((warn_unused_result));

#endif
