/*
 * consumer.c — wait for an object by name and read it in place.
 * Usage: consumer NAME TIMEOUT_MS   (prints the sum of the doubles stored under NAME)
 */
#include <stdio.h>
#include <stdlib.h>

#include <shmstore.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: consumer NAME TIMEOUT_MS\n");
        return 2;
    }
    shmstore_client *store;
    if (shmstore_connect(NULL, &store) != 0) {
        fprintf(stderr, "connect: %s\n", shmstore_errmsg(NULL));
        return 1;
    }

    shmstore_object obj;
    int rc = shmstore_get(store, argv[1], atoi(argv[2]), &obj);   /* waits for the producer */
    if (rc) {
        fprintf(stderr, "get %s: %s (%s)\n", argv[1], shmstore_strerror(rc), shmstore_errmsg(store));
        shmstore_close(store);
        return 1;
    }
    const double *values = obj.data;   /* read-only pointer into the shared arena */
    size_t count = obj.size / sizeof(double);
    double sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += values[i];
    printf("%s: %zu values, sum %.0f, meta \"%.*s\"\n", argv[1], count, sum,
           (int)obj.meta_size, (const char *)obj.meta);

    shmstore_release(store, &obj);     /* after this, obj.data must not be used */
    shmstore_close(store);
    return 0;
}
