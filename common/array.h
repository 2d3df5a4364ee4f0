#ifndef QMGR_COMMON_ARRAY_H
#define QMGR_COMMON_ARRAY_H

/* The number of elements of an array (not a pointer). */
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
