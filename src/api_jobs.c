/*
 * api_jobs.c - the api process's request threads (http.threads).
 *
 * libmicrohttpd's epoll threads only move bytes; a complete request is
 * suspended there and queued here, where a fixed set of threads runs
 * the handlers, which may block (a POST waits for its group commit and
 * Kafka's ack, a GET for the database).  A blocked handler then holds
 * one of these threads, never the connections an epoll thread serves.
 * Knows nothing of HTTP: a job is a function and its argument.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "api_priv.h"

struct api_jobs {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct api_job	*head, **tail;
	bool		 stop;
	int		 n;
	pthread_t	 thread[];
};

static void *
api_jobs_run(void *arg)
{
	struct api_jobs *q = arg;
	struct api_job *j;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (q->head == NULL && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if ((j = q->head) == NULL)
			break;		/* stopping, and nothing left to run */
		if ((q->head = j->next) == NULL)
			q->tail = &q->head;
		pthread_mutex_unlock(&q->mu);
		j->fn(j);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* Stops the threads once the queue is empty; api_jobs_free(NULL) is safe. */
void
api_jobs_free(struct api_jobs *q)
{
	int i;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (i = 0; i < q->n; i++)
		pthread_join(q->thread[i], NULL);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

struct api_jobs *
api_jobs_new(int nthreads)
{
	struct api_jobs *q;

	if ((q = calloc(1, sizeof(*q) + sizeof(pthread_t) *
	    (size_t)nthreads)) == NULL)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->tail = &q->head;
	for (q->n = 0; q->n < nthreads; q->n++) {
		if ((errno = pthread_create(&q->thread[q->n], NULL,
		    api_jobs_run, q)) != 0) {
			api_jobs_free(q);
			return NULL;
		}
	}
	return q;
}

void
api_jobs_push(struct api_jobs *q, struct api_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&q->mu);
	*q->tail = j;
	q->tail = &j->next;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}
