/*
 * namemap.c — ordered map from names to small values (an AVL tree).
 *
 * Each entry is one allocation: the caller's value (value_size bytes, given at name_map_new),
 * then the tree node, then the name (NUL-terminated so callers can print it). Keeping the value
 * inline saves the store a second allocation per name, and its own copy of the name: a million
 * names cost a million allocations, not three million (docs/architecture.md, "Bookkeeping per
 * object"). The value sits before the node so the node's name stays a flexible array member and
 * every comparison reads it directly; a value pointer and its node are a fixed distance apart.
 * The node is packed (a 16-bit length, an 8-bit height) so that a store entry with a short name
 * fits the allocator's 80-byte size class. Insert and remove recurse down the tree and rebalance
 * on the way back up with the usual single and double rotations, so every path stays within
 * 1.44 log2(n) nodes; recursion depth is bounded by that height, a few dozen frames even for
 * millions of names.
 *
 * Order is memcmp order with a shorter prefix first. name_map_next needs no parent pointers or
 * cursor state: it descends from the root remembering the last node where it turned left, which
 * is the smallest name greater than the key — so a cursor is just a name, valid whatever happens
 * to the map in between.
 *
 * An insert that cannot allocate its node fails before the tree is touched, so out-of-memory never
 * leaves a half-done insert behind.
 */
#include "namemap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct name_node {
    struct name_node *left, *right;
    uint16_t len;
    int8_t height;      /* of the subtree rooted here; a leaf is 1 (1.44 log2 of 2^64 fits) */
    char name[];        /* len bytes, then a NUL */
} name_node;

struct name_map {
    name_node *root;
    size_t count;
    size_t value_size;  /* rounded up to 8, so the node after it stays aligned */
};

static void *value_of(const name_map *m, const name_node *n)
{
    return (char *)n - m->value_size;
}

static name_node *node_of(const name_map *m, const void *value)
{
    return (name_node *)((char *)value + m->value_size);
}

static void node_free(const name_map *m, name_node *n)
{
    free(value_of(m, n));
}

static int compare_names(const char *a, size_t a_len, const char *b, size_t b_len)
{
    size_t common = a_len < b_len ? a_len : b_len;
    if (common > 0) {
        int c = memcmp(a, b, common);
        if (c != 0)
            return c;
    }
    return (a_len > b_len) - (a_len < b_len);
}

static inline int height_of(const name_node *n)
{
    return n ? n->height : 0;
}

static inline void update_height(name_node *n)
{
    int l = height_of(n->left), r = height_of(n->right);
    n->height = (l > r ? l : r) + 1;
}

static name_node *rotate_right(name_node *n)
{
    name_node *pivot = n->left;
    n->left = pivot->right;
    pivot->right = n;
    update_height(n);
    update_height(pivot);
    return pivot;
}

static name_node *rotate_left(name_node *n)
{
    name_node *pivot = n->right;
    n->right = pivot->left;
    pivot->left = n;
    update_height(n);
    update_height(pivot);
    return pivot;
}

/* Restore balance at n after one of its subtrees changed height by one; returns the new root of
 * this subtree. A child leaning the other way needs the double rotation, else the single one
 * would just move the imbalance to the other side. */
static name_node *rebalance(name_node *n)
{
    update_height(n);
    int balance = height_of(n->left) - height_of(n->right);
    if (balance > 1) {
        if (height_of(n->left->left) < height_of(n->left->right))
            n->left = rotate_left(n->left);
        return rotate_right(n);
    }
    if (balance < -1) {
        if (height_of(n->right->right) < height_of(n->right->left))
            n->right = rotate_right(n->right);
        return rotate_left(n);
    }
    return n;
}

name_map *name_map_new(size_t value_size)
{
    if (value_size > 4096)
        return NULL;
    name_map *m = calloc(1, sizeof(name_map));
    if (m)
        m->value_size = (value_size + 7) & ~(size_t)7;
    return m;
}

static void free_subtree(const name_map *m, name_node *n)
{
    while (n) {
        /* Recurse on one side only and loop on the other, halving the stack use. */
        free_subtree(m, n->left);
        name_node *right = n->right;
        node_free(m, n);
        n = right;
    }
}

void name_map_free(name_map *m)
{
    if (!m)
        return;
    free_subtree(m, m->root);
    free(m);
}

static name_node *find_node(const name_map *m, const char *name, size_t len)
{
    name_node *n = m->root;
    while (n) {
        int c = compare_names(name, len, n->name, n->len);
        if (c == 0)
            return n;
        n = c < 0 ? n->left : n->right;
    }
    return NULL;
}

void *name_map_get(const name_map *m, const char *name, size_t len)
{
    name_node *n = find_node(m, name, len);
    return n ? value_of(m, n) : NULL;
}

const char *name_map_key(const name_map *m, const void *value, size_t *len)
{
    const name_node *n = node_of(m, value);
    if (len)
        *len = n->len;
    return n->name;
}

/* The caller has made sure fresh->name is not in the tree yet. */
static name_node *insert_node(name_node *n, name_node *fresh)
{
    if (!n)
        return fresh;
    if (compare_names(fresh->name, fresh->len, n->name, n->len) < 0)
        n->left = insert_node(n->left, fresh);
    else
        n->right = insert_node(n->right, fresh);
    return rebalance(n);
}

void *name_map_insert(name_map *m, const char *name, size_t len, int *inserted)
{
    *inserted = 0;
    name_node *existing = find_node(m, name, len);
    if (existing)
        return value_of(m, existing);
    if (len > NAME_MAP_KEY_MAX)
        return NULL;
    char *block = calloc(1, m->value_size + offsetof(name_node, name) + len + 1);
    if (!block)
        return NULL;
    name_node *fresh = (name_node *)(block + m->value_size);
    fresh->len = (uint16_t)len;
    fresh->height = 1;
    if (len > 0)
        memcpy(fresh->name, name, len);
    m->root = insert_node(m->root, fresh);
    m->count++;
    *inserted = 1;
    return block;
}

/* Unlink the smallest node of the non-empty subtree n into *min_out; returns the new root. */
static name_node *detach_min(name_node *n, name_node **min_out)
{
    if (!n->left) {
        *min_out = n;
        return n->right;
    }
    n->left = detach_min(n->left, min_out);
    return rebalance(n);
}

/* Unlink the node named name from the subtree n into *removed (left NULL when absent); returns
 * the new root of the subtree. */
static name_node *remove_node(name_node *n, const char *name, size_t len, name_node **removed)
{
    if (!n)
        return NULL;
    int c = compare_names(name, len, n->name, n->len);
    if (c < 0) {
        n->left = remove_node(n->left, name, len, removed);
    } else if (c > 0) {
        n->right = remove_node(n->right, name, len, removed);
    } else {
        *removed = n;
        if (!n->left)
            return n->right;
        if (!n->right)
            return n->left;
        /* Two children: the in-order successor takes n's place, so its relinking is O(1)
         * instead of copying names between nodes (which would also move the pointer a caller
         * got from name_map_next). */
        name_node *successor;
        name_node *right = detach_min(n->right, &successor);
        successor->left = n->left;
        successor->right = right;
        return rebalance(successor);
    }
    return *removed ? rebalance(n) : n;
}

int name_map_remove(name_map *m, const char *name, size_t len)
{
    name_node *removed = NULL;
    m->root = remove_node(m->root, name, len, &removed);
    if (!removed)
        return 0;
    node_free(m, removed);
    m->count--;
    return 1;
}

size_t name_map_count(const name_map *m)
{
    return m->count;
}

const char *name_map_next(const name_map *m, const char *after, size_t after_len,
                          size_t *len_out, void **value_out)
{
    name_node *best = NULL;
    name_node *n = m->root;
    while (n) {
        if (!after || compare_names(n->name, n->len, after, after_len) > 0) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    if (!best)
        return NULL;
    if (len_out)
        *len_out = best->len;
    if (value_out)
        *value_out = value_of(m, best);
    return best->name;
}

/* Height of the subtree n after checking it, or -1 with *why. Every name must lie strictly
 * between lo and hi (NULL: unbounded), which checks the order globally, not just parent-child. */
static int check_subtree(const name_node *n, const name_node *lo, const name_node *hi,
                         size_t *count, const char **why)
{
    if (!n)
        return 0;
    if (lo && compare_names(lo->name, lo->len, n->name, n->len) >= 0) {
        *why = "name not greater than an ancestor on its left";
        return -1;
    }
    if (hi && compare_names(n->name, n->len, hi->name, hi->len) >= 0) {
        *why = "name not less than an ancestor on its right";
        return -1;
    }
    if (n->name[n->len] != '\0') {
        *why = "name copy not NUL-terminated";
        return -1;
    }
    int l = check_subtree(n->left, lo, n, count, why);
    if (l < 0)
        return -1;
    int r = check_subtree(n->right, n, hi, count, why);
    if (r < 0)
        return -1;
    if (l - r > 1 || r - l > 1) {
        *why = "subtree heights differ by more than one";
        return -1;
    }
    int height = (l > r ? l : r) + 1;
    if (n->height != height) {
        *why = "stored height is wrong";
        return -1;
    }
    (*count)++;
    return height;
}

int name_map_check(const name_map *m, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    size_t count = 0;
    if (check_subtree(m->root, NULL, NULL, &count, why) < 0)
        return -1;
    if (count != m->count) {
        *why = "count does not match the number of nodes";
        return -1;
    }
    return 0;
}
