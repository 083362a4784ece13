/* SPDX-License-Identifier: MIT OR Unlicense */
/* A translation unit that sees only the declarations, linked with impl.c. */
#include "kvstore.h"
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char check[] = "123456789";
    if (kvs_version() != KVS_VERSION_NUMBER || strcmp(kvs_version_string(), KVS_VERSION_STRING) != 0) {
        fprintf(stderr, "%s:%d: version mismatch\n", __FILE__, __LINE__);
        return 1;
    }
    if (kvs_crc32c(0, check, 9) != 0xe3069283u) {
        fprintf(stderr, "%s:%d: crc32c check value wrong\n", __FILE__, __LINE__);
        return 1;
    }
    return 0;
}
