/*
 * humansize.c — human-readable sizes both ways, and durations. Binary units throughout (KiB =
 * 1024 bytes), because the store's capacities and page sizes are powers of two, and the K/M/G
 * suffixes of every size the daemon and storectl accept are powers of 1024 too.
 */
#include "humansize.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *human_size(uint64_t bytes, char *buf, size_t buflen)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (bytes < 1024) {
        snprintf(buf, buflen, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    /* Integer arithmetic, so the digits are cut exactly: the remainder is below 2^50, and 100
     * times that still fits. */
    unsigned shift = 10;
    size_t unit = 0;
    while ((bytes >> shift) >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        shift += 10;
        unit++;
    }
    const unsigned long long whole = bytes >> shift;
    const uint64_t rest = bytes & ((UINT64_C(1) << shift) - 1);
    if (whole < 10)
        snprintf(buf, buflen, "%llu.%02llu %s", whole, (unsigned long long)((rest * 100) >> shift),
                 units[unit]);
    else
        snprintf(buf, buflen, "%llu.%llu %s", whole, (unsigned long long)((rest * 10) >> shift),
                 units[unit]);
    return buf;
}

char *human_size_exact(uint64_t bytes, char *buf, size_t buflen)
{
    if (bytes < 1024) {
        snprintf(buf, buflen, "%llu bytes", (unsigned long long)bytes);
        return buf;
    }
    char human[32];
    snprintf(buf, buflen, "%llu bytes (%s)", (unsigned long long)bytes,
             human_size(bytes, human, sizeof human));
    return buf;
}

char *human_duration(uint64_t seconds, char *buf, size_t buflen)
{
    const unsigned long long days = seconds / 86400, hours = seconds / 3600 % 24,
                             minutes = seconds / 60 % 60, secs = seconds % 60;
    if (days)
        snprintf(buf, buflen, "%llud %02lluh %02llum %02llus", days, hours, minutes, secs);
    else if (hours)
        snprintf(buf, buflen, "%lluh %02llum %02llus", hours, minutes, secs);
    else if (minutes)
        snprintf(buf, buflen, "%llum %02llus", minutes, secs);
    else
        snprintf(buf, buflen, "%llus", secs);
    return buf;
}

int human_size_parse(const char *text, uint64_t *out)
{
    if (!text || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; end++; break;
    case 'M': shift = 20; end++; break;
    case 'G': shift = 30; end++; break;
    case 'T': shift = 40; end++; break;
    default: break;
    }
    if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0 || strcmp(end, "ib") == 0 ||
                  strcmp(end, "b") == 0))
        end += strlen(end);
    if (*end != '\0')
        return -1;
    if (shift && value > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)value << shift;
    return 0;
}
