/* SPDX-License-Identifier: MIT OR Unlicense */
/* The header included before and after the implementation macro, and twice
   with it: the include guards must make that harmless. */
#include "kvstore.h"
#include "kvstore.h"
#define KVS_IMPLEMENTATION
#include "kvstore.h"
#include "kvstore.h"

int main(void)
{
    return kvs_format_version() == KVS_FORMAT_VERSION ? 0 : 1;
}
