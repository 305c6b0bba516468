/*
 * verify.h — `storectl verify`: read every durable object's file back and check it against the
 * checksum its object carries, off the event loop (docs/architecture.md, "Durable objects").
 *
 * The loop takes a snapshot of the durable objects that have a file (name, id, sizes, checksum),
 * in slices so that a store of millions of objects does not hold it for long; a thread of this
 * module's own reads the files (never the LMDB catalogue) and hands the outcome back through an
 * eventfd; the loop then repairs, through durable_repair, only the objects still bound to the id
 * it checked, and answers. One verify runs at a time.
 */
#ifndef SHMSTORE_VERIFY_H
#define SHMSTORE_VERIFY_H

#include "conn.h"
#include "proto.h"

/* VERIFY: answer at once without a data directory (data_dir 0) or when a verify is already
 * running (ESTATE); else start one and hold the connection (CONN_PERSISTING) until its reply. */
void verify_request(struct conn *c, const struct shm_request *req);

/* The daemon stops: end a running verify (its thread stops between two reads) and free it; its
 * client gets no reply. Call before durable_stop, with the loop no longer running. */
void verify_stop(struct server *s);

#endif
