/*
 * access.c — the connection's access level from its peer credentials.
 *
 * The primary gid and the supplementary groups both count for group lists. SO_PEERGROUPS
 * (Linux 4.13) gives the supplementary groups the peer had when it connected; on an older
 * kernel only the primary group is known, which can refuse a user whose access comes from a
 * supplementary group, never admit one who has none. A failed allocation for a long group list
 * likewise only leaves groups out.
 */
#define _GNU_SOURCE
#include "access.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int access_read_peer(int fd, struct peer *p)
{
    memset(p, 0, sizeof *p);
    p->pid = -1;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return -1;
    p->pid = cred.pid;
    p->uid = cred.uid;
    p->gid = cred.gid;
    p->groups = p->inline_groups;
#ifdef SO_PEERGROUPS
    len = sizeof p->inline_groups;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->inline_groups, &len);
    if (rc != 0 && errno == ERANGE && len > 0) {
        /* Directory-service users often have more groups than fit: the kernel said how many. */
        p->allocated = malloc(len);
        if (p->allocated) {
            p->groups = p->allocated;
            rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->allocated, &len);
        }
    }
    if (rc == 0)
        p->ngroups = len / sizeof(gid_t);
#endif
    return 0;
}

void access_peer_release(struct peer *p)
{
    free(p->allocated);
    p->allocated = NULL;
    p->groups = p->inline_groups;
    p->ngroups = 0;
}

static int listed(const struct id_list *l, uint32_t id)
{
    for (unsigned i = 0; i < l->count; i++)
        if (l->ids[i] == id)
            return 1;
    return 0;
}

static int in_group_list(const struct id_list *l, const struct peer *p)
{
    if (listed(l, p->gid))
        return 1;
    for (size_t i = 0; i < p->ngroups; i++)
        if (listed(l, p->groups[i]))
            return 1;
    return 0;
}

enum access_level access_decide(const struct options *o, const struct peer *p)
{
    if (!options_has_access_lists(o) || p->uid == 0 || p->uid == geteuid())
        return ACCESS_FULL;
    if (listed(&o->allow_users, p->uid) || in_group_list(&o->allow_groups, p))
        return ACCESS_FULL;
    if (listed(&o->readonly_users, p->uid) || in_group_list(&o->readonly_groups, p))
        return ACCESS_READONLY;
    return ACCESS_REFUSED;
}

const char *access_level_name(enum access_level level)
{
    switch (level) {
    case ACCESS_FULL: return "read-write";
    case ACCESS_READONLY: return "read-only";
    case ACCESS_REFUSED: return "refused";
    }
    return "?";
}
