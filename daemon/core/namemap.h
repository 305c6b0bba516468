/*
 * namemap.h — ordered map from names to pointers (an AVL tree).
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

name_map *name_map_new(void);
/* Frees the map and its copies of the names, not the values. */
void name_map_free(name_map *m);

/* The value stored under name, or NULL. */
void *name_map_get(const name_map *m, const char *name, size_t len);
/* Insert name (copied) with value, or overwrite the value if present. 0, or -1 when memory runs
 * out (the map is unchanged then). value must not be NULL. */
int name_map_put(name_map *m, const char *name, size_t len, void *value);
/* Remove name; return its value, or NULL when absent. */
void *name_map_remove(name_map *m, const char *name, size_t len);
size_t name_map_count(const name_map *m);

/* The first entry whose name is strictly greater than after[0..after_len) (after NULL: the first
 * entry of all). Returns the map's copy of that name (NUL-terminated, valid until the entry is
 * removed) with its length in *len_out and value in *value_out, or NULL at the end. */
const char *name_map_next(const name_map *m, const char *after, size_t after_len,
                          size_t *len_out, void **value_out);

/* Check the AVL invariants (order, balance, heights, count). 0 when sound, -1 with *why. */
int name_map_check(const name_map *m, const char **why);

#endif
