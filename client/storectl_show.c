/*
 * storectl_show.c — `storectl show NAME`: one object described for a person.
 *
 * The figures come from shmstore_status (taken before the pin, so the pins shown are other
 * programs'); the contents from a pin of the object with shmstore_get, released before the
 * command ends. What the bytes are is decided by describe.c: the Python binding's arrays and
 * pickles, text, or a hex dump. An object only on disk is read back into memory by the get,
 * as for any reader.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "describe.h"
#include "humansize.h"
#include "storectl.h"

/* How long show waits for an object only on disk to be read back. */
#define SHOW_GET_TIMEOUT_MS 30000

static void print_figures(const shmstore_object_status *status)
{
    const shmstore_object_stat *st = &status->stat;
    char size[HUMAN_SIZE_MAX], meta_size[HUMAN_SIZE_MAX], owner[64], age[64], created[64];
    const int64_t now = now_ns();
    const int64_t age_ns = now > st->created_ns ? now - st->created_ns : 0;
    printf("name:      %s\nid:        %" PRIu64 "\nsize:      %s (%" PRIu64 " bytes)\n",
           st->name, st->id, human_size(st->size, size, sizeof size), st->size);
    if (status->owner_uid == SHMSTORE_OWNER_UNKNOWN)
        printf("owner:     - (the daemon does not say)\n");
    else
        printf("owner:     %s (uid %lu)\n", owner_name(status->owner_uid, owner, sizeof owner),
               (unsigned long)status->owner_uid);
    printf("pins:      %" PRIu64 "\n", st->pins);
    const char *where = location_name(status->location);
    if (where)
        printf("where:     %s\ndurable:   %s\n",
               strcmp(where, "both") == 0 ? "both (memory and disk)" : where,
               status->durable ? "yes" : "no");
    format_time(st->created_ns, created, sizeof created);
    printf("age:       %s (created %s)\n",
           human_duration((uint64_t)(age_ns / 1000000000), age, sizeof age), created);
    if (status->expires_ns) {
        char expires[64], left[64];
        const int64_t left_ns = status->expires_ns > now ? status->expires_ns - now : 0;
        format_time(status->expires_ns, expires, sizeof expires);
        printf("expires:   in %s (%s)\n",
               human_duration((uint64_t)(left_ns / 1000000000), left, sizeof left), expires);
    }
    if (st->meta_size)
        printf("meta_size: %s (%" PRIu64 " bytes)\n",
               human_size(st->meta_size, meta_size, sizeof meta_size), st->meta_size);
}

int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1)
        return option_error("show", opt, argv);
    if (argc - optind != 1)
        return usage_error("usage: storectl show NAME");
    const char *name = argv[optind];
    shmstore_client *c;
    int status = connect_or_report(&c);
    if (status)
        return status;
    shmstore_object_status placed;
    shmstore_object obj;
    int rc = shmstore_status(c, name, &placed);
    if (rc == 0)
        rc = shmstore_get(c, name, SHOW_GET_TIMEOUT_MS, &obj);
    if (rc) {
        status = report(c, name, rc);
        shmstore_close(c);
        return status;
    }
    if (obj.id != placed.stat.id && shmstore_status(c, name, &placed) == 0 &&
        placed.stat.id == obj.id && placed.stat.pins > 0)
        placed.stat.pins--;   /* replaced meanwhile: the newer figures, less this pin */
    print_figures(&placed);
    describe_contents(stdout, obj.meta, obj.meta_size, obj.data, obj.size);
    shmstore_release(c, &obj);
    shmstore_close(c);
    return EXIT_OK;
}
