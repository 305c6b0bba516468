/*
 * releasering.h — the daemon's side of the per-connection release ring (proto/ring.h): make the
 * shared page, drain it into the store.
 */
#ifndef SHMSTORE_RELEASERING_H
#define SHMSTORE_RELEASERING_H

#include "ring.h"
#include "store.h"

/* A new zeroed ring page, mapped here, and its fd to pass to the client (the caller closes it
 * once sent). 0, or -1 with errno. */
int release_ring_create(struct shm_release_ring **ring, int *fd);
void release_ring_destroy(struct shm_release_ring *ring);
/* Release, for cl, every id the client queued since the last drain (at most SHM_RING_SLOTS).
 * Ids cl does not hold a pin on are ignored. Returns how many ids were read. */
unsigned release_ring_drain(struct shm_release_ring *ring, store_t *s, struct store_client *cl);

#endif
