/* SPDX-License-Identifier: MIT OR Unlicense */
/* The translation unit that holds the implementation (two-TU link test). */
#define KVS_IMPLEMENTATION
#include "kvstore.h"
