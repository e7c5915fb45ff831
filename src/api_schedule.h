/*
 * api_schedule.h - scheduled sends on the notification resource
 * (api_schedule.c): a POST's sendAt, and the cancel route.
 */
#ifndef NOTIFYD_API_SCHEDULE_H
#define NOTIFYD_API_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "sendat.h"

/* What a POST's sendAt asked for. */
struct api_schedule {
	bool	 later;			/* store SCHEDULED, do not produce */
	int64_t	 at_us;			/* sendAt, microseconds since the epoch */
	char	 send_at[SENDAT_LEN];	/* as timestamptz text, when later */
};

int	api_schedule_parse(json_t *body, struct http_resp *,
	    struct api_schedule *) __attribute__((warn_unused_result));
const char *api_schedule_send_at(const struct api_schedule *);
void	api_schedule_show(json_t *row, const struct api_schedule *);
int	api_schedule_cancel(struct http_req *, struct http_resp *)
	    __attribute__((warn_unused_result));

#endif
