/*
 * smtp.h - one SMTP relay connection, opened by libcurl.
 */
#ifndef NOTIFYD_SMTP_H
#define NOTIFYD_SMTP_H

#include <stdbool.h>
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
	bool		 sender_refused; /* refused at MAIL FROM: about us */
};

enum smtp_tls {
	SMTP_TLS_OFF,		/* never STARTTLS (unless AUTH or smtps://) */
	SMTP_TLS_OPPORTUNISTIC,	/* STARTTLS when the relay offers it */
	SMTP_TLS_REQUIRED,	/* STARTTLS or no send */
};

/* The relay and how to reach it; read once, by smtp_new. */
struct smtp_opts {
	const char	*url;		/* smtp:// or smtps:// */
	enum smtp_tls	 starttls;
	const char	*ca_file;	/* "" = the system's */
	const char	*username;	/* "" = no AUTH */
	const char	*password_file;	/* "" = no password */
	double		 connect_timeout;	/* seconds */
	double		 timeout;	/* seconds per server reply */
	bool		 pipelining;	/* group commands when offered */
};

/* What one transfer left behind, for smtp_classify. */
struct smtp_transfer {
	int		 rc;		/* the CURLcode of curl_easy_perform */
	long		 code;		/* CURLINFO_RESPONSE_CODE */
	const char	*reply;		/* the last line the server sent */
	const char	*refusal;	/* its first 4xx/5xx line, or "" */
	bool		 utf8_refused;	/* no SMTPUTF8 for a non-ASCII address */
	int		 refusal_at;	/* its reply's place after EHLO: 1 MAIL */
};

struct smtp;

struct smtp	*smtp_new(const struct smtp_opts *, char *err, size_t len)
		    __attribute__((warn_unused_result));
void		 smtp_free(struct smtp *);
void		 smtp_send(struct smtp *, const char *from, const char *to,
		    const char *msg, size_t len, struct smtp_result *);
void		 smtp_ahead(struct smtp *, const char *from, const char *to);
void		 smtp_classify(const struct smtp_transfer *,
		    struct smtp_result *);

#endif
