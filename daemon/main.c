/*
 * main.c — shmstored: parse options, start the server, run until told to stop.
 * Exit status: 0 after a clean shutdown, 1 when the start fails, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "options.h"
#include "server.h"

int main(int argc, char **argv)
{
    struct options opts;
    switch (options_parse(&opts, argc, argv)) {
    case OPTIONS_EXIT_OK: return 0;
    case OPTIONS_EXIT_USAGE: return 2;
    case OPTIONS_RUN: break;
    }
    log_set_level(opts.log_level);

    struct server server;
    char why[512];
    if (server_start(&server, &opts, why, sizeof why) != 0) {
        log_error("cannot start: %s", why);
        return 1;
    }
    server_run(&server);
    server_stop(&server);
    log_info("stopped");
    return 0;
}
