/*
 * producer.c — create an object in place, fill it, seal it.
 * Usage: producer NAME COUNT   (stores COUNT doubles 0, 1, 2, ... under NAME)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmstore.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: producer NAME COUNT\n");
        return 2;
    }
    const char *name = argv[1];
    size_t count = strtoull(argv[2], NULL, 10);

    shmstore_client *store;
    int rc = shmstore_connect(NULL, &store);   /* NULL: $SHMSTORE_SOCKET or the default socket */
    if (rc) {
        fprintf(stderr, "connect: %s\n", shmstore_errmsg(NULL));
        return 1;
    }

    const char meta[] = "dtype=float64";
    void *data;
    uint64_t id;
    /* The text without its NUL: metadata is bytes, and storectl stat shows it as text. */
    rc = shmstore_create(store, name, count * sizeof(double), meta, strlen(meta), 0, &data, &id);
    if (rc) {
        fprintf(stderr, "create %s: %s\n", name, shmstore_errmsg(store));
        shmstore_close(store);
        return 1;
    }
    double *values = data;          /* writable, in shared memory: no copy anywhere */
    for (size_t i = 0; i < count; i++)
        values[i] = (double)i;

    rc = shmstore_seal(store, id);  /* now visible, immutable, and waiting consumers wake */
    if (rc)
        fprintf(stderr, "seal %s: %s\n", name, shmstore_errmsg(store));
    shmstore_close(store);
    return rc ? 1 : 0;
}
