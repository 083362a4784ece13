/* SPDX-License-Identifier: MIT OR Unlicense */
/* KVS_STATIC with the POSIX backend included into the one file, without
   KVS_POSIX: kvstore_posix.c declares its part itself, and everything stays
   private to this translation unit. */
#define KVS_STATIC
#define KVS_IMPLEMENTATION
#include "kvstore_posix.c"

int main(void)
{
    kvs_store_config c;
    kvs_store_config_init(&c);
    return c.kind == KVS_STORE_FS && kvs_pool_default_threads() >= 2 ? 0 : 1;
}
