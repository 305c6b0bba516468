/*
 * idmap.h — hash map from 64-bit ids to pointers.
 *
 * Open addressing with linear probing and backward-shift deletion (no tombstones), so lookups
 * stay short under churn. Used for the daemon's id -> object table and for each connection's
 * id -> pin table; the latter are many and mostly tiny, so an empty map allocates nothing.
 * Id 0 is reserved and may not be stored.
 *
 * A keyless map (ID_MAP_KEYLESS) stores only the values, each of which names its own id through
 * key_of: half the memory, for a table of records that carry their id anyway (the daemon's
 * million objects; docs/architecture.md, "Bookkeeping per object"). Its values must not be NULL
 * and must keep their id while stored.
 */
#ifndef SHMSTORE_IDMAP_H
#define SHMSTORE_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct id_map {
    uint64_t *keys;     /* 0 = empty slot; NULL in a keyless map */
    void **values;      /* NULL = empty slot in a keyless map */
    size_t count;
    size_t mask;        /* capacity - 1; capacity is a power of two, or 0 before first put */
    uint64_t (*key_of)(const void *value);   /* keyless: the id a value names */
} id_map;

#define ID_MAP_INIT {NULL, NULL, 0, 0, NULL}
#define ID_MAP_KEYLESS(key_of_fn) {NULL, NULL, 0, 0, (key_of_fn)}

void id_map_clear(id_map *m);                       /* frees the table (not the values) */
void *id_map_get(const id_map *m, uint64_t id);     /* NULL when absent */
/* Insert or overwrite. 0, or -1 when memory runs out (the map is unchanged then). */
int id_map_put(id_map *m, uint64_t id, void *value);
/* Remove and return the value, NULL when absent. */
void *id_map_remove(id_map *m, uint64_t id);
static inline size_t id_map_count(const id_map *m) { return m->count; }
/* Call fn for every entry, in no particular order. fn may not change the map. */
void id_map_foreach(const id_map *m, void (*fn)(uint64_t id, void *value, void *arg), void *arg);

#endif
