/*
 * test_watchqueue.c — the coalescing queue of a slow watcher's events (daemon/core/watchqueue.h):
 * one waiting event per name, the latest, in the order of latest events; a bound on names past
 * which events are dropped and counted, new names staying dropped until the queue has drained
 * and the count is taken; and nothing leaks however the queue is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "watchqueue.h"

static enum watch_push push(watch_queue *q, uint32_t kind, const char *name, uint64_t id)
{
    return watch_queue_push(q, kind, name, strlen(name), id, id * 10, (int64_t)id * 100);
}

/* Pop the head and check it is (name, kind, id). */
static void expect_head(watch_queue *q, const char *name, uint32_t kind, uint64_t id)
{
    const struct watch_item *it = watch_queue_peek(q);
    assert_non_null(it);
    assert_string_equal(it->name, name);
    assert_int_equal(it->name_len, strlen(name));
    assert_int_equal(it->kind, kind);
    assert_true(it->id == id);
    assert_true(it->size == id * 10);
    assert_true(it->time_ns == (int64_t)id * 100);
    watch_queue_pop(q);
}

static void test_fifo(void **state)
{
    (void)state;
    watch_queue *q = watch_queue_new(8);
    assert_non_null(q);
    assert_null(watch_queue_peek(q));
    assert_int_equal(push(q, 1, "a", 1), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "b", 2), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "c", 3), WATCH_QUEUED);
    assert_int_equal(watch_queue_length(q), 3);
    expect_head(q, "a", 1, 1);
    expect_head(q, "b", 1, 2);
    expect_head(q, "c", 1, 3);
    assert_null(watch_queue_peek(q));
    assert_int_equal(watch_queue_length(q), 0);
    watch_queue_pop(q);   /* popping nothing is harmless */
    assert_int_equal(watch_queue_take_lost(q), 0);
    watch_queue_free(q);
}

/* A name's newer event replaces its waiting one and moves it last: the watcher reads the latest
 * state of each name, in the order those states came about. */
static void test_coalesce_latest_wins(void **state)
{
    (void)state;
    watch_queue *q = watch_queue_new(8);
    assert_int_equal(push(q, 1, "a", 1), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "b", 2), WATCH_QUEUED);
    assert_int_equal(push(q, 2, "a", 3), WATCH_COALESCED);   /* a replaced */
    assert_int_equal(push(q, 3, "a", 4), WATCH_COALESCED);   /* then deleted */
    assert_int_equal(watch_queue_length(q), 2);
    assert_int_equal(watch_queue_lost(q), 0);
    expect_head(q, "b", 1, 2);
    expect_head(q, "a", 3, 4);
    /* Once popped, a name waits afresh. */
    assert_int_equal(push(q, 1, "a", 5), WATCH_QUEUED);
    expect_head(q, "a", 1, 5);
    watch_queue_free(q);
}

/* Names are bytes: a prefix is another name, and so is a name with other bytes past it. */
static void test_names_are_exact(void **state)
{
    (void)state;
    watch_queue *q = watch_queue_new(8);
    assert_int_equal(push(q, 1, "job7/a", 1), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "job7/ab", 2), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "job7/", 3), WATCH_QUEUED);
    assert_int_equal(watch_queue_push(q, 2, "job7/abc", 6, 4, 40, 400), WATCH_COALESCED);
    expect_head(q, "job7/ab", 1, 2);
    expect_head(q, "job7/", 1, 3);
    expect_head(q, "job7/a", 2, 4);
    watch_queue_free(q);
}

/* Past the bound, new names are dropped and counted, but names already waiting still take
 * their newer events. Until the queue has drained and the count is taken, every new name is
 * dropped too, even when there is room again: what comes before the marker has no hole. */
static void test_bound_and_lost_marker(void **state)
{
    (void)state;
    watch_queue *q = watch_queue_new(3);
    assert_int_equal(push(q, 1, "a", 1), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "b", 2), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "c", 3), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "d", 4), WATCH_DROPPED);
    assert_int_equal(push(q, 1, "e", 5), WATCH_DROPPED);
    assert_int_equal(watch_queue_lost(q), 2);
    assert_int_equal(push(q, 3, "b", 6), WATCH_COALESCED);
    assert_int_equal(watch_queue_length(q), 3);

    expect_head(q, "a", 1, 1);
    assert_int_equal(push(q, 1, "f", 7), WATCH_DROPPED);   /* room, but a loss is untold */
    assert_int_equal(watch_queue_lost(q), 3);
    assert_int_equal(watch_queue_take_lost(q), 0);         /* events still wait */
    assert_int_equal(watch_queue_lost(q), 3);
    expect_head(q, "c", 1, 3);
    expect_head(q, "b", 3, 6);
    assert_int_equal(watch_queue_take_lost(q), 3);
    assert_int_equal(watch_queue_lost(q), 0);
    assert_int_equal(watch_queue_take_lost(q), 0);
    assert_int_equal(push(q, 1, "g", 8), WATCH_QUEUED);    /* live again */
    expect_head(q, "g", 1, 8);
    watch_queue_free(q);
}

/* However many events come, at most max names wait: the memory of a watcher that never reads
 * is bounded. */
static void test_many_events_bounded(void **state)
{
    (void)state;
    enum { MAX = 100, EVENTS = 100000 };
    watch_queue *q = watch_queue_new(MAX);
    uint64_t queued = 0, coalesced = 0, dropped = 0;
    char name[32];
    for (uint64_t i = 0; i < EVENTS; i++) {
        snprintf(name, sizeof name, "n/%llu", (unsigned long long)(i % 250));
        switch (push(q, 1 + (uint32_t)(i % 7), name, i + 1)) {
        case WATCH_QUEUED: queued++; break;
        case WATCH_COALESCED: coalesced++; break;
        case WATCH_DROPPED: dropped++; break;
        }
        assert_true(watch_queue_length(q) <= MAX);
    }
    assert_true(queued == MAX);
    assert_true(queued + coalesced + dropped == EVENTS);
    assert_true(watch_queue_lost(q) == dropped);
    /* The waiting events are the first MAX names, each with its latest event. */
    for (uint64_t k = 0; k < MAX; k++) {
        const struct watch_item *it = watch_queue_peek(q);
        assert_non_null(it);
        unsigned long long n = 0;
        assert_int_equal(sscanf(it->name, "n/%llu", &n), 1);
        assert_true(n < MAX);
        assert_true((it->id - 1) % 250 == n);
        assert_true(it->id > EVENTS - 250);
        watch_queue_pop(q);
    }
    assert_true(watch_queue_take_lost(q) == dropped);
    watch_queue_free(q);
}

/* A queue freed with events waiting frees them (the ASan build checks for leaks). */
static void test_free_with_items(void **state)
{
    (void)state;
    watch_queue *q = watch_queue_new(4);
    push(q, 1, "a", 1);
    push(q, 1, "b", 2);
    push(q, 1, "c", 3);
    watch_queue_free(q);
    watch_queue_free(NULL);
    /* max 0 is taken as 1: a queue always holds something. */
    q = watch_queue_new(0);
    assert_int_equal(push(q, 1, "a", 1), WATCH_QUEUED);
    assert_int_equal(push(q, 1, "b", 2), WATCH_DROPPED);
    watch_queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_coalesce_latest_wins),
        cmocka_unit_test(test_names_are_exact),
        cmocka_unit_test(test_bound_and_lost_marker),
        cmocka_unit_test(test_many_events_bounded),
        cmocka_unit_test(test_free_with_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
