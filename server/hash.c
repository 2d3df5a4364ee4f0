/* The allocator behind uthash (hash.h). */
#include <stdlib.h>

#include "hash.h"

void *(*hash_malloc)(size_t size) = malloc;
