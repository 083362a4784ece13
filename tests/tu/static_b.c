/* SPDX-License-Identifier: MIT OR Unlicense */
#define KVS_STATIC
#define KVS_IMPLEMENTATION
#include "kvstore.h"

int static_b_fnv_ok(void);
int static_b_fnv_ok(void)
{
    return kvs_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL;
}
