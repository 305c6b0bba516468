/*
 * sockpath.h — where the daemon listens and clients connect when nobody says
 * (docs/architecture.md, "Configuration").
 * One function for both sides, so a daemon started by hand and a worker find each other.
 */
#ifndef SHMSTORE_SOCKPATH_H
#define SHMSTORE_SOCKPATH_H

#include <stddef.h>

#define SHM_SYSTEM_SOCKET "/run/shmstore/shmstore.sock"

/* $SHMSTORE_SOCKET if set and non-empty; else SHM_SYSTEM_SOCKET for root, or for another user
 * when that socket exists and the user may connect to it (write permission); else
 * $XDG_RUNTIME_DIR/shmstore.sock; else /tmp/shmstore-UID.sock.
 * 0, or -1 when the path does not fit in buf (or in a sockaddr_un). */
int shm_default_socket_path(char *buf, size_t buflen);

/* The same rule with another path in the system socket's place (for tests). */
int shm_default_socket_path_with(const char *system_socket, char *buf, size_t buflen);

/* The per-user socket alone: $XDG_RUNTIME_DIR/shmstore.sock, else /tmp/shmstore-UID.sock. What a
 * user who may not use the system daemon runs their own on. 0, or -1 as above. */
int shm_user_socket_path(char *buf, size_t buflen);

#endif
