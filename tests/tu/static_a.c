/* SPDX-License-Identifier: MIT OR Unlicense */
/* KVS_STATIC: two private copies of the implementation in one program. */
#define KVS_STATIC
#define KVS_IMPLEMENTATION
#include "kvstore.h"

int static_b_fnv_ok(void);

int main(void)
{
    if (kvs_fnv1a64("a", 1) != 0xaf63dc4c8601ec8cULL)
        return 1;
    return static_b_fnv_ok() ? 0 : 1;
}
