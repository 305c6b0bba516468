/*
 * sockpath.c — the default socket rule (docs/architecture.md, "Configuration"). Root uses the
 * system socket. Another user uses it only when it exists and that user may connect to it
 * (write permission, as connect() checks): then the system daemon is theirs to use. Otherwise
 * they get a per-user socket, so a user the system daemon would refuse, or a machine without
 * the service, leads both a hand-started daemon and its clients to the same private socket
 * instead of a permission error on the system one.
 */
#define _GNU_SOURCE
#include "sockpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* snprintf's result as this module's: 0, or -1 when it did not fit buf or a sockaddr_un. */
static int fitted(int n, size_t buflen)
{
    if (n < 0 || (size_t)n >= buflen || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return -1;
    return 0;
}

int shm_user_socket_path(char *buf, size_t buflen)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && *xdg)
        return fitted(snprintf(buf, buflen, "%s/shmstore.sock", xdg), buflen);
    return fitted(snprintf(buf, buflen, "/tmp/shmstore-%u.sock", (unsigned)getuid()), buflen);
}

/* Root, or a socket this user may connect to. */
static int system_socket_usable(const char *system_socket)
{
    struct stat st;
    return geteuid() == 0 || (stat(system_socket, &st) == 0 && S_ISSOCK(st.st_mode) &&
                              access(system_socket, W_OK) == 0);
}

int shm_default_socket_path_with(const char *system_socket, char *buf, size_t buflen)
{
    const char *env = getenv("SHMSTORE_SOCKET");
    if (env && *env)
        return fitted(snprintf(buf, buflen, "%s", env), buflen);
    if (system_socket_usable(system_socket))
        return fitted(snprintf(buf, buflen, "%s", system_socket), buflen);
    return shm_user_socket_path(buf, buflen);
}

int shm_default_socket_path(char *buf, size_t buflen)
{
    return shm_default_socket_path_with(SHM_SYSTEM_SOCKET, buf, buflen);
}
