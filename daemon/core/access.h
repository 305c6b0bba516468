/*
 * access.h — who may use the store, decided once per connection from the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS) and the allow lists of the configuration.
 */
#ifndef SHMSTORE_ACCESS_H
#define SHMSTORE_ACCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "options.h"

enum access_level { ACCESS_REFUSED, ACCESS_READONLY, ACCESS_FULL };

struct peer {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;      /* supplementary groups, as the kernel tells them */
    size_t ngroups;
    gid_t inline_groups[64];  /* where they usually fit */
    gid_t *allocated;         /* where they go when there are more */
};

/* Fill *p from a connected Unix socket. 0, or -1 when the kernel gives no credentials.
 * Release it with access_peer_release. */
int access_read_peer(int fd, struct peer *p);
void access_peer_release(struct peer *p);

/* No access list: everyone who can open the socket is a full client (the socket's mode and
 * group are the gate). With lists: listed users and groups are full or read-only clients, root
 * and the daemon's own user are always full clients, and everyone else is refused. */
enum access_level access_decide(const struct options *o, const struct peer *p);

const char *access_level_name(enum access_level level);

#endif
