/*
 * expire.h — the event loop's side of time to live: one timer, armed for the store's earliest
 * deadline, that deletes what has expired (docs/architecture.md, "Time to live").
 */
#ifndef SHMSTORE_EXPIRE_H
#define SHMSTORE_EXPIRE_H

#include "server.h"

/* Objects one firing deletes before it lets the loop serve clients again. */
#define EXPIRE_BATCH 1024u

/* Make the timer. 0, or -1 with why. */
int expire_start(struct server *s, char *why, size_t whylen);
/* Follow the store's earliest deadline: arm the timer for it when it is sooner than the one the
 * timer waits for. O(1); called after every request. */
void expire_arm(struct server *s);
void expire_stop(struct server *s);

#endif
