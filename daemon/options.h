/*
 * options.h — shmstored's settings: defaults, then the config file, then the command line
 * (DESIGN.md §6). The command line wins over the file.
 */
#ifndef SHMSTORE_OPTIONS_H
#define SHMSTORE_OPTIONS_H

#include <stdint.h>

#include "log.h"

#define OPTIONS_DEFAULT_MEMORY (1ull << 30)
#define OPTIONS_MAX_MEMORY (1ull << 50)   /* far beyond any machine; keeps size arithmetic safe */
#define OPTIONS_DEFAULT_CONFIG "/etc/shmstore/shmstored.conf"

struct options {
    char socket_path[108];
    uint64_t memory;
    int reserve;
    enum log_level log_level;
    char config_path[4096];
};

enum options_result { OPTIONS_RUN, OPTIONS_EXIT_OK, OPTIONS_EXIT_USAGE };

/* Fill *o from argv (and the config file it names, or the default one if it exists). Prints
 * help, version or the error itself. */
enum options_result options_parse(struct options *o, int argc, char **argv);

#endif
