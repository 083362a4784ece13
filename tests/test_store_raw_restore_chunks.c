/* SPDX-License-Identifier: MIT OR Unlicense */
/* tests/test_store_raw_restore.c with the checkpoint read in 16 KiB chunks:
   dozens of chunk boundaries, entries cut at every kind of place. */
#define KVSI_RAW_CHUNK ((size_t)16 << 10)
#define T_NAME "test_store_raw_restore_chunks"
#include "test_store_raw_restore.c"
