/*
 * humansize.h — sizes for people: "212.0 MiB", and parsing "256M" / "1G" (powers of 1024); and
 * durations: "1d 02h 03m 04s". Shared by the daemon's error details, shmstored's options and
 * storectl's tables.
 */
#ifndef SHMSTORE_HUMANSIZE_H
#define SHMSTORE_HUMANSIZE_H

#include <stddef.h>
#include <stdint.h>

/* Writes "512 B", "1.50 KiB", "212.0 MiB", "3.00 GiB" into buf; returns buf. The figure is cut,
 * never rounded up, so it never reads as more than there is: 1073737728 bytes are "1023.9 MiB",
 * not a "1024.0 MiB" that looks like the 1.00 GiB someone asked for. */
char *human_size(uint64_t bytes, char *buf, size_t buflen);
/* The exact count with the human figure beside it: "1073741824 bytes (1.00 GiB)", or just
 * "100 bytes" below 1 KiB. For error details, where two sizes must be told apart. */
char *human_size_exact(uint64_t bytes, char *buf, size_t buflen);
/* Room for either form of any uint64_t. */
#define HUMAN_SIZE_MAX 48
/* "1d 02h 03m 04s" for 93784 seconds, "5m 00s" for 300: the largest unit first, the smaller ones
 * two digits wide, no leading zero units; "0s" for 0. Returns buf. */
char *human_duration(uint64_t seconds, char *buf, size_t buflen);
/* Parses digits with an optional K, M, G or T suffix (case-insensitive, optional "iB"/"B").
 * 0 on success, -1 on anything else or overflow. */
int human_size_parse(const char *text, uint64_t *out);

#endif
