/*
 * handlers.h — what each request does: one table from message type to handler (memcached's
 * CMD_FIELDS idea), so adding a request is one row and one function.
 */
#ifndef SHMSTORE_HANDLERS_H
#define SHMSTORE_HANDLERS_H

#include "conn.h"
#include "proto.h"

/* Serve one decoded request. Replies are queued on the connection; the handler may move it to
 * WAITING or DRAINING but never frees it. */
void handlers_dispatch(struct conn *c, const struct shm_request *req);
/* Send the reply of a GET (type) or STAT carrying obj, as the handlers do. */
void handlers_reply_object(struct conn *c, uint32_t type, uint32_t seq,
                           const struct object *obj);
/* The connection is going away: cancel its waiting get, if any. */
void handlers_conn_closing(struct conn *c);

#endif
