/*
 * smtp.h - one SMTP relay connection through libcurl.
 */
#ifndef NOTIFYD_SMTP_H
#define NOTIFYD_SMTP_H

#include <stddef.h>

enum smtp_outcome {
	SMTP_OK,	/* 250: delivered to the relay */
	SMTP_TEMP,	/* 4xx, network, timeout, TLS: try again later */
	SMTP_PERM,	/* 5xx: never retry */
};

struct smtp_result {
	enum smtp_outcome outcome;
	int		 code;		/* SMTP reply code, 0 if none */
	char		 text[256];	/* the server's reply or curl's error */
};

struct smtp;

struct smtp	*smtp_new(char *err, size_t len) __attribute__((warn_unused_result));
void		 smtp_free(struct smtp *);
void		 smtp_send(struct smtp *, const char *from, const char *to,
		    const char *msg, size_t len, struct smtp_result *);

#endif
