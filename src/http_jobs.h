/*
 * http_jobs.h - a fixed set of threads running queued jobs (http_jobs.c).
 *
 * Knows nothing of HTTP: a job is a function and the struct it is
 * embedded in.
 */
#ifndef NOTIFYD_HTTP_JOBS_H
#define NOTIFYD_HTTP_JOBS_H

struct http_jobs;

struct http_job {
	struct http_job	*next;
	void		(*fn)(struct http_job *);
};

struct http_jobs *http_jobs_new(int nthreads)
	    __attribute__((warn_unused_result));
void	http_jobs_free(struct http_jobs *);
void	http_jobs_push(struct http_jobs *, struct http_job *);

#endif
