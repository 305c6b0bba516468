/*
 * quota.h — per-user quotas: what each user's objects take, and how much they may take
 * (docs/architecture.md, "Quotas").
 *
 * Every object is charged to its owner (the uid of the connection that created it) from its
 * create until it is freed: one object and its payload plus metadata bytes, sealed or not, in
 * memory or on disk. A create that would take a user past a limit is refused with
 * SHMSTORE_ENOSPC and a detail naming the quota.
 *
 * Limits come from the config: quota_bytes and quota_objects for everyone, and overrides per
 * user (`quota_bytes.alice = 10G`, or by uid) and per group (`quota_bytes.@research = 50G`, or
 * `@GID`). For each of the two limits separately, a user's own override wins; else the most
 * generous override of the groups the user is in (primary and supplementary, getgrouplist); else
 * the default. 0 (or `unlimited`) means no limit, and counts as the most generous.
 *
 * Knows nothing of the store: the store calls quota_check, quota_charge and quota_uncharge.
 * Users' names and groups are looked up once per user and per configuration (the lookup is
 * replaceable, for tests).
 */
#ifndef SHMSTORE_QUOTA_H
#define SHMSTORE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#define QUOTA_RULES_MAX 256
#define QUOTA_NAME_MAX 32     /* bytes of a user's name kept for details, NUL included */
#define QUOTA_GROUPS_MAX 256  /* groups of one user considered for group overrides */

/* One override line: `quota_bytes.alice = 10G` sets has_bytes and bytes of alice's rule. */
struct quota_rule {
    uint32_t id;          /* uid, or gid when group */
    uint8_t group;
    uint8_t has_bytes, has_objects;
    uint64_t bytes, objects;   /* 0: no limit */
};

struct quota_rules {
    unsigned count;
    struct quota_rule rules[QUOTA_RULES_MAX];
};

/* Parse a config line whose key may be an override: 1 when key is not one (not
 * "quota_bytes.X" or "quota_objects.X"), 0 when it is and *rules took it (a second line for the
 * same user or group and limit replaces the first), -1 with what is wrong in problem. */
int quota_rule_parse(struct quota_rules *rules, const char *key, const char *value,
                     char *problem, size_t len);
/* The rules as config lines with ids, "; " between them ("quota_bytes.@1002 = 53687091200;
 * quota_objects.1001 = 10"), for logs; "" when there are none. */
const char *quota_rules_format(const struct quota_rules *rules, char *buf, size_t len);

typedef struct quota quota_t;

/* Who a uid is: its name (into name, NUL-terminated) and its groups, primary first (into gids,
 * at most max). Returns how many groups, or -1 when the uid has no passwd entry (no name, no
 * groups). */
typedef int (*quota_lookup_fn)(uint32_t uid, char *name, size_t name_len, uint32_t *gids,
                               int max);

/* NULL when out of memory. Limits start unlimited; lookups use the system's user database. */
quota_t *quota_new(void);
void quota_free(quota_t *q);
void quota_set_lookup(quota_t *q, quota_lookup_fn lookup);

/* Set the limits: defaults (0: none) and overrides. Applies to later checks; what users hold
 * now stays charged even when it is over the new limits. */
void quota_configure(quota_t *q, uint64_t default_bytes, uint64_t default_objects,
                     const struct quota_rules *rules);

/* May uid create one more object of `bytes`? 0, SHMSTORE_ENOSPC with a detail naming the quota
 * ("quota of uid 1001 (alice): 10.0 GiB, 9.8 GiB used, asked 512.0 MiB"), or SHMSTORE_ENOMEM. */
int quota_check(quota_t *q, uint32_t uid, uint64_t bytes, char *detail, size_t len);
/* Charge or give back one object of `bytes`. quota_charge: 0, or -1 when out of memory (nothing
 * charged); it never refuses over a limit (a restart brings back what users held). */
int quota_charge(quota_t *q, uint32_t uid, uint64_t bytes);
void quota_uncharge(quota_t *q, uint32_t uid, uint64_t bytes);

/* One user's usage and limits (0: no limit). */
struct quota_usage {
    uint32_t uid;
    uint64_t objects, bytes;
    uint64_t quota_bytes, quota_objects;
};
/* Users who hold objects, uid >= from_uid, in uid order: at most max into out. Returns how many;
 * *more is set when users beyond them remain (ask again from out[n - 1].uid + 1). */
size_t quota_list(quota_t *q, uint64_t from_uid, struct quota_usage *out, size_t max,
                  int *more);
/* Users who hold objects now. */
uint64_t quota_user_count(const quota_t *q);
/* Objects and bytes charged over all users (for store_check). */
void quota_totals(const quota_t *q, uint64_t *objects, uint64_t *bytes);

#endif
