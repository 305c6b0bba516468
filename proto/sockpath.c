/*
 * sockpath.c — the default socket rule (docs/architecture.md, "Configuration"). The system socket
 * wins for a non-root user only when it exists, so a user's hand-started daemon is found through
 * XDG_RUNTIME_DIR on a machine without the service, and the service's socket is found on one that
 * has it.
 */
#define _GNU_SOURCE
#include "sockpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int shm_default_socket_path(char *buf, size_t buflen)
{
    const char *env = getenv("SHMSTORE_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    int n;
    if (env && *env)
        n = snprintf(buf, buflen, "%s", env);
    else if (geteuid() == 0 || (stat(SHM_SYSTEM_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode)))
        n = snprintf(buf, buflen, "%s", SHM_SYSTEM_SOCKET);
    else if (xdg && *xdg)
        n = snprintf(buf, buflen, "%s/shmstore.sock", xdg);
    else
        n = snprintf(buf, buflen, "/tmp/shmstore-%u.sock", (unsigned)getuid());
    if (n < 0 || (size_t)n >= buflen || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return -1;
    return 0;
}
