/*
 * watchqueue.c — coalescing queue of one watcher's waiting events (see watchqueue.h).
 *
 * A doubly linked list gives the order (push at the tail, pop at the head, an item moved to the
 * tail when its name has a newer event), and the store's name map finds a name's item in
 * O(log n). Each item is one allocation holding its name; the map keeps its own copy of the
 * name and, as its value, the item's address, so an item is found by name and removed from the
 * map by its own copy.
 */
#include "watchqueue.h"

#include <stdlib.h>
#include <string.h>

#include "namemap.h"

struct watch_queue {
    name_map *by_name;               /* name -> (struct watch_item *) */
    struct watch_item *head, *tail;  /* oldest first */
    size_t length, max;
    uint64_t lost;
};

watch_queue *watch_queue_new(size_t max)
{
    watch_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->by_name = name_map_new(sizeof(struct watch_item *));
    if (!q->by_name) {
        free(q);
        return NULL;
    }
    q->max = max ? max : 1;
    return q;
}

void watch_queue_free(watch_queue *q)
{
    if (!q)
        return;
    while (q->head)
        watch_queue_pop(q);
    name_map_free(q->by_name);
    free(q);
}

static void unlink_item(watch_queue *q, struct watch_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail = it->prev;
    it->prev = it->next = NULL;
}

static void append_item(watch_queue *q, struct watch_item *it)
{
    it->prev = q->tail;
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
}

enum watch_push watch_queue_push(watch_queue *q, uint32_t kind, const char *name, size_t name_len,
                                 uint64_t id, uint64_t size, int64_t time_ns)
{
    struct watch_item **slot = name_map_get(q->by_name, name, name_len);
    struct watch_item *it = slot ? *slot : NULL;
    if (it) {
        it->kind = kind;
        it->id = id;
        it->size = size;
        it->time_ns = time_ns;
        unlink_item(q, it);
        append_item(q, it);
        return WATCH_COALESCED;
    }
    /* Once an event is lost, later names are too until the marker is told: what the watcher
     * reads before the marker never skips over a gap. */
    if (q->length >= q->max || q->lost > 0)
        goto dropped;
    it = malloc(sizeof *it + name_len + 1);
    if (!it)
        goto dropped;
    it->kind = kind;
    it->id = id;
    it->size = size;
    it->time_ns = time_ns;
    it->name_len = name_len;
    memcpy(it->name, name, name_len);
    it->name[name_len] = '\0';
    int inserted;
    slot = name_map_insert(q->by_name, it->name, name_len, &inserted);
    if (!slot) {
        free(it);
        goto dropped;
    }
    *slot = it;
    append_item(q, it);
    q->length++;
    return WATCH_QUEUED;
dropped:
    q->lost++;
    return WATCH_DROPPED;
}

const struct watch_item *watch_queue_peek(const watch_queue *q)
{
    return q->head;
}

void watch_queue_pop(watch_queue *q)
{
    struct watch_item *it = q->head;
    if (!it)
        return;
    unlink_item(q, it);
    name_map_remove(q->by_name, it->name, it->name_len);
    q->length--;
    free(it);
}

size_t watch_queue_length(const watch_queue *q)
{
    return q->length;
}

uint64_t watch_queue_lost(const watch_queue *q)
{
    return q->lost;
}

uint64_t watch_queue_take_lost(watch_queue *q)
{
    if (q->head)
        return 0;
    uint64_t lost = q->lost;
    q->lost = 0;
    return lost;
}
