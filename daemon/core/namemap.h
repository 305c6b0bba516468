/*
 * namemap.h — ordered map from names to small values (an AVL tree).
 *
 * Names are byte strings compared with memcmp, a shorter prefix first, which for UTF-8 is
 * code-point order. The order gives `ls` a stable resumable cursor: "the first name after X"
 * stays meaningful however the map changes between two pages, which a hash table's bucket
 * cursor would not. Every operation is O(log n).
 */
#ifndef SHMSTORE_NAMEMAP_H
#define SHMSTORE_NAMEMAP_H

#include <stddef.h>

typedef struct name_map name_map;

/* The longest name an entry may have. */
#define NAME_MAP_KEY_MAX 65535u

/* A map whose entries each carry value_size bytes of the caller's (at most 4096), 8-byte
 * aligned, stored with the name in one allocation. NULL when out of memory. */
name_map *name_map_new(size_t value_size);
/* Frees the map and every entry (values included: they are the map's). */
void name_map_free(name_map *m);

/* The value stored under name, or NULL. A value stays where it is until its entry is removed. */
void *name_map_get(const name_map *m, const char *name, size_t len);
/* The value under name; when there is none, a new entry with a zeroed value (*inserted = 1).
 * NULL when memory runs out or name is longer than NAME_MAP_KEY_MAX (the map is unchanged then). */
void *name_map_insert(name_map *m, const char *name, size_t len, int *inserted);
/* The name of the entry whose value this is (NUL-terminated, valid until it is removed), and its
 * length in *len. */
const char *name_map_key(const name_map *m, const void *value, size_t *len);
/* Remove name and free its entry: 1, or 0 when absent. */
int name_map_remove(name_map *m, const char *name, size_t len);
size_t name_map_count(const name_map *m);

/* The first entry whose name is strictly greater than after[0..after_len) (after NULL: the first
 * entry of all). Returns the map's copy of that name (NUL-terminated, valid until the entry is
 * removed) with its length in *len_out and its value in *value_out, or NULL at the end. */
const char *name_map_next(const name_map *m, const char *after, size_t after_len,
                          size_t *len_out, void **value_out);

/* Check the AVL invariants (order, balance, heights, count). 0 when sound, -1 with *why. */
int name_map_check(const name_map *m, const char **why);

#endif
