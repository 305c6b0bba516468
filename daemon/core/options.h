/*
 * options.h — shmstored's settings: defaults, then the config file, then the command line
 * (docs/architecture.md, "Configuration"). The command line wins over the file. SIGHUP re-reads
 * both and applies the settings that config.c's table marks reloadable (log level, access lists,
 * limits). Each field below is one row of that table.
 */
#ifndef SHMSTORE_OPTIONS_H
#define SHMSTORE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "quota.h"

#define OPTIONS_MAX_MEMORY (1ull << 50)   /* far beyond any machine; keeps size arithmetic safe */
#define OPTIONS_DEFAULT_CONFIG "/etc/shmstore/shmstored.conf"
#define OPTIONS_IDS_MAX 64

/* sync: a durable seal answers once the object and its catalogue entry are on disk. async: it
 * answers at once and the write reaches the disk within flush_interval (docs/architecture.md,
 * "Durable objects"). */
enum durability { DURABILITY_SYNC, DURABILITY_ASYNC };

/* Where segments' pages come from (docs/architecture.md, "Processes and memory"). */
enum hugepages_mode { HUGEPAGES_NO, HUGEPAGES_AUTO, HUGEPAGES_YES };

/* Users or groups, resolved to numeric ids when the configuration is read. */
struct id_list {
    uint32_t ids[OPTIONS_IDS_MAX];
    unsigned count;
};

struct options {
    /* fixed for the daemon's life */
    char socket_path[108];
    uint64_t memory;                 /* the store's maximum; 0: 30% of the machine (reloadable) */
    uint64_t segment_size;           /* memory taken at a time */
    enum hugepages_mode hugepages;
    int reserve;
    unsigned socket_mode;            /* permission bits of the socket file, default 0660 */
    long socket_group;               /* group of the socket file, -1 to leave it */
    int lifeline_fd;                 /* --lifeline FD (command line only), -1 without */
    char data_dir[4096];             /* durable objects live here; empty: none, all transient */
    enum durability durability;      /* when a durable seal is acknowledged */
    uint64_t flush_interval_ms;      /* async: the longest a queued durable write waits */
    int persist_all;                 /* persist = all: every put and create is durable, as if
                                      * it carried SHMSTORE_PERSIST; options_parse refuses it
                                      * without a data directory. 0: persist = flagged (default) */
    int preload;                     /* preload = yes: restart reads every durable object back
                                      * at once, not on its first get (default no) */
    int evict_lru;                   /* evict = lru: a full store deletes unpinned transient
                                      * objects, least recently used first (cache mode) */
    int spill;                       /* spill = yes (the default): a full arena writes unpinned
                                      * transient objects to disk; means nothing without a data
                                      * directory */
    /* reloadable with SIGHUP (and memory, above) */
    uint64_t segment_idle_ms;        /* an empty segment is given back after this long */
    enum log_level log_level;
    struct id_list allow_users, allow_groups;        /* read-write clients */
    struct id_list readonly_users, readonly_groups;  /* read-only clients */
    uint32_t max_clients;
    uint64_t max_pins_per_client;
    uint64_t max_unsealed_bytes_per_client;          /* 0: only the store's size limits it */
    uint64_t quota_bytes, quota_objects;             /* per user; 0: no limit */
    struct quota_rules quota_rules;                  /* quota_bytes.NAME, quota_objects.@GROUP */
    /* where they came from */
    char config_path[4096];
    int argc;
    char **argv;
};

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Fill *o from argv (and the config file it names, or the default one if it exists). Prints
 * help, version or the error itself. argv must outlive *o (reload reads it again). */
enum options_result options_parse(struct options *o, int argc, char **argv);

/* Read the configuration again, as at start, into *fresh. 0, or -1 with what is wrong in why
 * ("FILE:LINE: key: problem"). */
int options_reload(const struct options *current, struct options *fresh, char *why,
                   size_t whylen);

/* Copy the reloadable settings of *fresh into *current, logging each change as
 * "reload: KEY OLD -> NEW", and warn about changes of settings that need a restart. */
void options_apply_reload(struct options *current, const struct options *fresh);

/* Whether any access list is set (then only listed users and groups may connect). */
int options_has_access_lists(const struct options *o);

/* "1000, 1001" into buf, for logs. */
const char *options_format_ids(const struct id_list *l, char *buf, size_t len);

#endif
