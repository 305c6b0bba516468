/*
 * sockpath.h — where the daemon listens and clients connect when nobody says
 * (docs/architecture.md, "Configuration").
 * One function for both sides, so a daemon started by hand and a worker find each other.
 */
#ifndef SHMSTORE_SOCKPATH_H
#define SHMSTORE_SOCKPATH_H

#include <stddef.h>

#define SHM_SYSTEM_SOCKET "/run/shmstore/shmstore.sock"

/* $SHMSTORE_SOCKET if set and non-empty; else SHM_SYSTEM_SOCKET for root or when that socket
 * exists; else $XDG_RUNTIME_DIR/shmstore.sock; else /tmp/shmstore-UID.sock.
 * 0, or -1 when the path does not fit in buf (or in a sockaddr_un). */
int shm_default_socket_path(char *buf, size_t buflen);

#endif
