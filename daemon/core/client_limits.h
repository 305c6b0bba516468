/*
 * client_limits.h — the configured per-client limits, decided without any I/O: whether one more
 * client, one more pin or more unsealed bytes are allowed. Each check returns 0, or the error code
 * to answer with and a detail naming the limit, so every refusal tells the user which setting to
 * raise. Handlers call these before asking the store; unit tests call them directly.
 */
#ifndef SHMSTORE_CLIENT_LIMITS_H
#define SHMSTORE_CLIENT_LIMITS_H

#include <stdint.h>
#include <sys/types.h>

#include "options.h"
#include "store.h"

/* A client past HELLO, when `served` others already are. Root and the daemon's own user are
 * never refused, so an operator can always get in to look. SHMSTORE_EPERM when over. */
int limits_check_client(const struct options *o, uint64_t served, uid_t uid, uid_t daemon_uid,
                        struct store_detail *d);
/* One more pin for cl. SHMSTORE_EPERM when it holds max_pins_per_client already. */
int limits_check_pin(const struct options *o, const struct store_client *cl,
                     struct store_detail *d);
/* `bytes` more (payload and metadata) in cl's unsealed objects. SHMSTORE_ENOSPC over
 * max_unsealed_bytes_per_client (0 is no limit). */
int limits_check_unsealed(const struct options *o, const struct store_client *cl, uint64_t bytes,
                          struct store_detail *d);

#endif
