/*
 * persist.h — the on-disk side of durable objects: the LMDB catalogue and the object files in the
 * data directory, with nothing of the event loop or threads (docs/architecture.md, "Durable
 * objects"). Every call may block on the disk, so the daemon calls them from its writer thread,
 * or before its loop starts; unit tests call them directly.
 *
 * Layout of DIR: catalogue/ is the LMDB environment (one database, name -> struct persist_entry);
 * objects/ holds one file per durable object, named by its id in hex, payload then metadata;
 * corrupt/ receives the files of objects found damaged; spill/ holds transient objects written out
 * to make room in the arena (emptied at every open: they never outlive their daemon). A file is
 * written under a
 * temporary name, fsynced and renamed, and only then does its catalogue entry commit, so an entry
 * never names a file that was not whole on disk when the entry was written.
 */
#ifndef SHMSTORE_PERSIST_H
#define SHMSTORE_PERSIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct persist persist_t;

/* A catalogue entry: everything needed to bring an object back and to check it. */
struct persist_entry {
    uint64_t id;
    uint64_t size, meta_size;
    uint64_t checksum;          /* persist_object_checksum of payload and metadata */
    int64_t sealed_ns;
    uint32_t inline_copy;       /* the bytes live inside the catalogue entry, not in a file */
};

/* Objects whose payload and metadata together are at most this many bytes live inside their
 * catalogue entry: a batch of them costs one LMDB commit, where files would cost an fsync each
 * and an inode and a block each (docs/architecture.md, "Durable objects"). */
#define PERSIST_INLINE_MAX (16u * 1024u)

/* One change of a catalogue transaction. BIND sets name -> entry (replacing whatever the name
 * had, whose file stays); DROP removes the name only while it still names entry.id, so a drop
 * queued for an object a newer bind already replaced changes nothing, and after the commit
 * removes entry.id's file in any case: the daemon drops an id exactly when its object has lost
 * its name, and no sooner, since until then a get may still read the file. */
enum persist_op_kind { PERSIST_BIND, PERSIST_DROP, PERSIST_REBIND };
struct persist_op {
    enum persist_op_kind kind;
    const char *name;
    size_t name_len;
    struct persist_entry entry;
    const void *data, *meta;    /* BIND, REBIND of an entry.inline_copy: its bytes */
};
/* REBIND writes an entry again (a repair of an inline object) only while the name still names
 * entry.id: never does it bring back an object replaced meanwhile. */

/* Open (creating what is missing) the data directory dir: its subdirectories and the LMDB
 * environment, clearing readers left by a dead process. 0, or a negative errno with the reason in
 * why. */
int persist_open(const char *dir, persist_t **out, char *why, size_t whylen);
void persist_close(persist_t *p);

/* A fast 64-bit checksum (several independent multiply-xor lanes, so it runs at memory speed).
 * Chain calls through seed to cover several buffers. */
uint64_t persist_checksum(const void *data, size_t len, uint64_t seed);
uint64_t persist_object_checksum(const void *data, uint64_t size, const void *meta,
                                 uint64_t meta_size);

/* Write an object in two steps, so a batch writes every file before it waits for any: first
 * persist_write_object writes payload then metadata to objects/ID.tmp (no fsync), then
 * persist_publish_object fsyncs it and renames it to objects/ID. On ext4 the first fsync of a
 * batch commits the journal with the others' data, so the rest cost little: that is what makes
 * group commit pay. The directory itself is synced once per batch (persist_sync_objects). Both
 * return 0, or a negative errno (-ENOSPC, -EROFS, -EIO, ...) with the reason in why, and leave no
 * file behind on failure. */
int persist_write_object(persist_t *p, uint64_t id, const void *data, uint64_t size,
                         const void *meta, uint64_t meta_size, uint64_t *checksum, char *why,
                         size_t whylen);
int persist_publish_object(persist_t *p, uint64_t id, char *why, size_t whylen);
/* fsync the objects directory, making earlier renames durable. */
int persist_sync_objects(persist_t *p, char *why, size_t whylen);
/* Remove objects/ID if it exists (a failed batch's files, unbound objects). */
void persist_remove_object(persist_t *p, uint64_t id);

/* Apply ops in one LMDB write transaction (durable when it returns 0), growing the map when it is
 * full, then remove the files of the ids it unbound. 0, or a negative errno with why. */
int persist_commit(persist_t *p, const struct persist_op *ops, size_t n, char *why,
                   size_t whylen);

/* Call fn for every catalogue entry, in name order, inside one read transaction: memory stays
 * bounded however large the catalogue. fn returns 0 to go on, a positive value to stop, or a
 * negative errno to stop with that error. 0, or a negative errno with why. */
int persist_foreach(persist_t *p,
                    int (*fn)(void *ctx, const char *name, size_t name_len,
                              const struct persist_entry *e),
                    void *ctx, char *why, size_t whylen);
/* The ids of the object files in objects/, sorted (free *ids). 0, or a negative errno. */
int persist_object_files(persist_t *p, uint64_t **ids, size_t *n, char *why, size_t whylen);

/* The spill area: a transient object's copy while it is out of memory. No fsync: a spill file
 * only matters while its daemon lives. persist_write_spill writes spill/ID and gives the
 * checksum it read the bytes with; persist_read_spill reads and checks it as
 * persist_read_object does (e: id, size, meta_size, checksum). */
int persist_write_spill(persist_t *p, uint64_t id, const void *data, uint64_t size,
                        const void *meta, uint64_t meta_size, uint64_t *checksum, char *why,
                        size_t whylen);
int persist_read_spill(persist_t *p, const struct persist_entry *e, void *payload, void *meta,
                       char *why, size_t whylen);
void persist_remove_spill(persist_t *p, uint64_t id);

/* Every catalogue entry, in name order: *names gets n NUL-terminated names (one allocation each)
 * and *entries n entries. Free with persist_entries_free. 0, or a negative errno with why. */
int persist_list(persist_t *p, char ***names, struct persist_entry **entries, size_t *n,
                 char *why, size_t whylen);
void persist_entries_free(char **names, struct persist_entry *entries, size_t n);

/* Read e's bytes into payload (e->size bytes) and meta (e->meta_size bytes) and verify their
 * length and checksum: from its file, or for an e->inline_copy from the catalogue entry of name
 * (persist_read_inline; any thread, a read transaction of its own). 0; -ENOENT when the file is
 * missing or the name no longer names e->id; -EBADMSG when it is torn or corrupt; another
 * negative errno on a read error; why says which. */
int persist_read_inline(persist_t *p, const char *name, size_t name_len,
                        const struct persist_entry *e, void *payload, void *meta, char *why,
                        size_t whylen);
int persist_read_object(persist_t *p, const struct persist_entry *e, void *payload, void *meta,
                        char *why, size_t whylen);

/* Move objects/ID aside to corrupt/ID (if it exists) and drop name's entry, for an object that
 * must never be served. 0, or a negative errno with why. */
int persist_quarantine(persist_t *p, const char *name, const struct persist_entry *e, char *why,
                       size_t whylen);

/* Remove every file of objects/ that no catalogue entry names (a crash between writing a file
 * and committing its entry, or between a commit and the removal of what it unbound) and every
 * leftover temporary file. Returns how many were removed, or a negative errno. */
long persist_remove_orphans(persist_t *p, char *why, size_t whylen);

/* The data directory, as given to persist_open. */
const char *persist_dir(const persist_t *p);

/* `storectl verify`, from a thread of its own: read objects/ID of the data directory dir in
 * chunks (never the whole object in memory) and check its length and checksum against e. It
 * opens the file by path and needs no persist_t, so it never touches the catalogue and does not
 * depend on the daemon's persist_t staying open. *bytes_read gets the bytes it read. 0; -ENOENT
 * when the file is missing; -EBADMSG when its length or checksum is wrong; another negative errno
 * when it cannot be read; why says which in a few words, without the directory ("checksum
 * mismatch", "wrong length: 10 bytes, the catalogue says 12"). stop, when not NULL, is read
 * between chunks: once it is nonzero the check gives up with -ECANCELED, so a daemon stopping
 * in the middle of a huge object waits for one chunk, not the whole file. */
int persist_verify_object(const char *dir, const struct persist_entry *e, uint64_t *bytes_read,
                          const atomic_int *stop, char *why, size_t whylen);

#endif
