/*
 * test_header_standalone.c — shmstore.h must compile on its own, as the first include, in strict
 * C11 with -pedantic -Werror (meson builds this file that way), and its error table must give
 * every code a distinct name and text.
 */
#include "shmstore.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    static const int codes[] = {
#define CODE_(name, value, text) SHMSTORE_##name,
        SHMSTORE_ERRNO_MAP(CODE_)
#undef CODE_
    };
    size_t n = sizeof codes / sizeof codes[0];
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        if (codes[i] >= 0 || strcmp(shmstore_strerror(codes[i]), "unknown error") == 0 ||
            strncmp(shmstore_errname(codes[i]), "SHMSTORE_E", 10) != 0) {
            fprintf(stderr, "code %d is not a proper error\n", codes[i]);
            failures++;
        }
        for (size_t j = 0; j < i; j++)
            if (codes[i] == codes[j] ||
                strcmp(shmstore_strerror(codes[i]), shmstore_strerror(codes[j])) == 0) {
                fprintf(stderr, "codes %d and %d collide\n", codes[i], codes[j]);
                failures++;
            }
    }
    if (strcmp(shmstore_strerror(12345), "unknown error") != 0)
        failures++;
    printf("%zu error codes checked, %d failures\n", n, failures);
    return failures != 0;
}
