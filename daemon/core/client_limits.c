/*
 * client_limits.c — per-client limits of the configuration (max_clients, max_pins_per_client,
 * max_unsealed_bytes_per_client). They protect the daemon and the other clients from one client
 * that leaks pins or creates without sealing; the store itself only knows the arena's size.
 * The limits are read at every check, so a SIGHUP that changes them applies to the next request.
 */
#include "client_limits.h"

#include <stdio.h>

#include "humansize.h"
#include "shmstore.h"

int limits_check_client(const struct options *o, uint64_t served, uid_t uid, uid_t daemon_uid,
                        struct store_detail *d)
{
    if (served < o->max_clients || uid == 0 || uid == daemon_uid)
        return 0;
    snprintf(d->text, sizeof d->text, "too many clients: the daemon's max_clients is %u",
             o->max_clients);
    return SHMSTORE_EPERM;
}

int limits_check_pin(const struct options *o, const struct store_client *cl,
                     struct store_detail *d)
{
    if (cl->pin_count < o->max_pins_per_client)
        return 0;
    snprintf(d->text, sizeof d->text,
             "limit reached: this client holds %llu pins and max_pins_per_client is %llu; "
             "release some first",
             (unsigned long long)cl->pin_count, (unsigned long long)o->max_pins_per_client);
    return SHMSTORE_EPERM;
}

int limits_check_unsealed(const struct options *o, const struct store_client *cl, uint64_t bytes,
                          struct store_detail *d)
{
    const uint64_t limit = o->max_unsealed_bytes_per_client;
    if (!limit || (bytes <= limit && cl->unsealed_charge <= limit - bytes))
        return 0;
    char asked[HUMAN_SIZE_MAX], held[HUMAN_SIZE_MAX], max[HUMAN_SIZE_MAX];
    snprintf(d->text, sizeof d->text,
             "limit reached: asked %s with %s already unsealed by this client, and "
             "max_unsealed_bytes_per_client is %s; seal or abort what this client is writing, "
             "or raise max_unsealed_bytes_per_client in shmstored's config file",
             human_size_exact(bytes, asked, sizeof asked),
             human_size_exact(cl->unsealed_charge, held, sizeof held),
             human_size_exact(limit, max, sizeof max));
    return SHMSTORE_ENOSPC;
}
