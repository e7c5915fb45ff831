/*
 * api_inbox.h - the in-app inbox (type IN_APP): the routes
 * (api_inbox.c) and the per-process hub that feeds their live streams
 * from PostgreSQL's notifyd_inbox channel (api_inbox_hub.c).
 */
#ifndef NOTIFYD_API_INBOX_H
#define NOTIFYD_API_INBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "api_db.h"
#include "http.h"

#define INBOX_UID_MAX	256	/* bytes of a {userId} (sql/017's NOTIFY) */

/* The columns of one item as JSON text, for a row n of email_notifications. */
#define INBOX_ITEM_JSON \
    "json_build_object('id', n.id, 'seq', n.inbox_seq, 'type', n.type," \
    " 'title', n.title, 'content', n.content, 'userId', n.user_id," \
    " 'metadata', n.metadata," \
    " 'createdAt', floor(extract(epoch from n.created_at))::bigint," \
    " 'deliveredAt', floor(extract(epoch from coalesce(n.sent_at," \
    "  n.updated_at)))::bigint," \
    " 'read', n.read_at IS NOT NULL," \
    " 'readAt', floor(extract(epoch from n.read_at))::bigint)::text"

struct api_inbox_hub;
struct api_inbox_sub;
struct http_stream;
struct buf;

/* api_inbox_hub.c */
int	 api_inbox_init(struct api_ctx *) __attribute__((warn_unused_result));
void	 api_inbox_fini(struct api_ctx *);
bool	 api_inbox_hub_live(struct api_inbox_hub *);
struct api_inbox_sub *api_inbox_sub_new(const char *uid, int64_t last)
	    __attribute__((warn_unused_result));
void	 api_inbox_sub_add(struct api_inbox_hub *, struct api_inbox_sub *,
	    struct http_stream *);
void	 api_inbox_sub_gone(void *sub);
int64_t	 api_inbox_sub_last(struct api_inbox_sub *);
void	 api_inbox_sub_wrote(struct api_inbox_sub *, int64_t seq);
bool	 api_inbox_sub_go_live(struct api_inbox_hub *, struct api_inbox_sub *);
void	 api_inbox_frame(struct buf *, int64_t seq, const char *json);

/* api_inbox.c: the routes */
void	 api_inbox_list(struct http_req *, struct http_resp *);
void	 api_inbox_read(struct http_req *, struct http_resp *);
void	 api_inbox_read_all(struct http_req *, struct http_resp *);
void	 api_inbox_stream(struct http_req *, struct http_resp *);

#endif
