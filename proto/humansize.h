/*
 * humansize.h — sizes for people: "212.0 MiB", and parsing "256M" / "1G" (powers of 1024).
 * Shared by the daemon's error details, shmstored's options and storectl's tables.
 */
#ifndef SHMSTORE_HUMANSIZE_H
#define SHMSTORE_HUMANSIZE_H

#include <stddef.h>
#include <stdint.h>

/* Writes "512 B", "1.5 KiB", "212.0 MiB", "3.00 GiB" into buf; returns buf. */
char *human_size(uint64_t bytes, char *buf, size_t buflen);
/* Parses digits with an optional K, M, G or T suffix (case-insensitive, optional "iB"/"B").
 * 0 on success, -1 on anything else or overflow. */
int human_size_parse(const char *text, uint64_t *out);

#endif
