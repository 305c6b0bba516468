/*
 * notify.h — tell systemd how the daemon is doing (sd_notify's datagram protocol, spoken
 * directly so the daemon needs no libsystemd). Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef SHMSTORE_NOTIFY_H
#define SHMSTORE_NOTIFY_H

/* Send one message ("READY=1", "STATUS=...", "STOPPING=1", several separated by newlines).
 * 0 when sent or when there is nowhere to send it; -1 when sending failed. */
int notify_send(const char *message);

#endif
