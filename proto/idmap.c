/*
 * idmap.c — hash map from 64-bit ids to pointers.
 *
 * Keys and values live in two parallel arrays whose length is a power of two, so a key's home
 * slot is its hash masked by capacity - 1, and a probe walks the dense key array only. Collisions
 * are resolved by linear probing. Removal uses backward-shift deletion: the entries that follow
 * the hole in the same run are pulled back toward their home slots, so no tombstones build up
 * and a lookup can always stop at the first empty slot, however long the map has churned.
 *
 * Key 0 marks an empty slot, so id 0 can never be stored: id_map_put(m, 0, ...) returns -1 and
 * id_map_get / id_map_remove of 0 return NULL.
 *
 * An empty map (ID_MAP_INIT) owns no memory; the first put allocates ID_MAP_MIN_CAPACITY slots.
 * The table doubles when an insert would push the load above 3/4, and halves (never below the
 * minimum) when removals leave it under 1/8 full. Resizing rebuilds into fresh arrays and only
 * swaps them in once both allocations succeeded, so running out of memory leaves the map as it was.
 */
#include "idmap.h"

#include <stdbool.h>
#include <stdlib.h>

#define ID_MAP_MIN_CAPACITY 8u

/* Ids are handed out sequentially; the splitmix64 finalizer spreads neighbouring ids over the
 * whole table, where the raw id would fill one dense run and make probe lengths explode. */
static inline uint64_t mix_id(uint64_t id)
{
    id ^= id >> 30;
    id *= UINT64_C(0xbf58476d1ce4e5b9);
    id ^= id >> 27;
    id *= UINT64_C(0x94d049bb133111eb);
    id ^= id >> 31;
    return id;
}

static inline size_t capacity_of(const id_map *m)
{
    return m->values ? m->mask + 1 : 0;
}

/* The id in a slot of these arrays (the map's, or a table being built), 0 when it is empty. */
static inline uint64_t key_at(const id_map *m, const uint64_t *keys, void *const *values,
                              size_t slot)
{
    if (keys)
        return keys[slot];
    return values[slot] ? m->key_of(values[slot]) : 0;
}

/* Load stays at or below 3/4: keys sit in their own array, eight to a cache line, so the few
 * extra probes this costs over 1/2 are cheap, and big tables waste a third less memory. */
static inline bool over_max_load(size_t count, size_t capacity)
{
    return count > capacity / 4 * 3;
}

/* Place a key known to be absent; the table must have a free slot. */
static void place(const id_map *m, uint64_t *keys, void **values, size_t mask, uint64_t id,
                  void *value)
{
    size_t slot = (size_t)mix_id(id) & mask;
    while (key_at(m, keys, values, slot) != 0)
        slot = (slot + 1) & mask;
    if (keys)
        keys[slot] = id;
    values[slot] = value;
}

static int resize(id_map *m, size_t new_capacity)
{
    if (new_capacity > SIZE_MAX / sizeof(void *))
        return -1;
    uint64_t *new_keys = m->key_of ? NULL : calloc(new_capacity, sizeof *new_keys);
    void **new_values = calloc(new_capacity, sizeof *new_values);
    if ((!new_keys && !m->key_of) || !new_values) {
        free(new_keys);
        free(new_values);
        return -1;
    }
    size_t new_mask = new_capacity - 1;
    size_t old_capacity = capacity_of(m);
    for (size_t slot = 0; slot < old_capacity; slot++) {
        uint64_t key = key_at(m, m->keys, m->values, slot);
        if (key != 0)
            place(m, new_keys, new_values, new_mask, key, m->values[slot]);
    }
    free(m->keys);
    free(m->values);
    m->keys = new_keys;
    m->values = new_values;
    m->mask = new_mask;
    return 0;
}

/* The slot holding id, or SIZE_MAX when absent. */
static size_t find_slot(const id_map *m, uint64_t id)
{
    if (id == 0 || !m->values)
        return SIZE_MAX;
    size_t slot = (size_t)mix_id(id) & m->mask;
    for (;;) {
        uint64_t key = key_at(m, m->keys, m->values, slot);
        if (key == id)
            return slot;
        if (key == 0)
            return SIZE_MAX;
        slot = (slot + 1) & m->mask;
    }
}

void id_map_clear(id_map *m)
{
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->count = 0;
    m->mask = 0;
}

void *id_map_get(const id_map *m, uint64_t id)
{
    size_t slot = find_slot(m, id);
    return slot == SIZE_MAX ? NULL : m->values[slot];
}

int id_map_put(id_map *m, uint64_t id, void *value)
{
    if (id == 0 || (m->key_of && (!value || m->key_of(value) != id)))
        return -1;
    size_t slot = find_slot(m, id);
    if (slot != SIZE_MAX) {
        m->values[slot] = value;
        return 0;
    }
    size_t capacity = capacity_of(m);
    if (capacity == 0 || over_max_load(m->count + 1, capacity)) {
        if (capacity > SIZE_MAX / 2)
            return -1;
        if (resize(m, capacity ? capacity * 2 : ID_MAP_MIN_CAPACITY) != 0)
            return -1;
    }
    place(m, m->keys, m->values, m->mask, id, value);
    m->count++;
    return 0;
}

/* Close the hole at `hole` by pulling back every later entry of the run that may legally sit
 * there: one whose home slot is not cyclically inside (hole, slot]. Moving it never puts it
 * before its home, so every key stays reachable from its home without crossing an empty slot. */
static void backward_shift(id_map *m, size_t hole)
{
    size_t slot = hole;
    for (;;) {
        slot = (slot + 1) & m->mask;
        uint64_t key = key_at(m, m->keys, m->values, slot);
        if (key == 0)
            break;
        size_t home = (size_t)mix_id(key) & m->mask;
        if (((slot - home) & m->mask) >= ((slot - hole) & m->mask)) {
            if (m->keys)
                m->keys[hole] = key;
            m->values[hole] = m->values[slot];
            hole = slot;
        }
    }
    if (m->keys)
        m->keys[hole] = 0;
    m->values[hole] = NULL;
}

void *id_map_remove(id_map *m, uint64_t id)
{
    size_t slot = find_slot(m, id);
    if (slot == SIZE_MAX)
        return NULL;
    void *value = m->values[slot];
    backward_shift(m, slot);
    m->count--;

    /* Halving at 1/8 lands at 1/4, far enough from the 3/4 grow point that a put/remove
     * pattern near the boundary does not resize back and forth. A failed shrink is harmless:
     * the bigger table stays valid. */
    size_t capacity = capacity_of(m);
    if (capacity > ID_MAP_MIN_CAPACITY && m->count < capacity / 8)
        (void)resize(m, capacity / 2);
    return value;
}

void id_map_foreach(const id_map *m, void (*fn)(uint64_t id, void *value, void *arg), void *arg)
{
    size_t capacity = capacity_of(m);
    for (size_t slot = 0; slot < capacity; slot++) {
        uint64_t key = key_at(m, m->keys, m->values, slot);
        if (key != 0)
            fn(key, m->values[slot], arg);
    }
}
