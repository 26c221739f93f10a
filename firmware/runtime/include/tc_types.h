/**
 * @file tc_types.h
 * @brief Types shared by all tinycompress runtime kernels.
 */
#ifndef TC_TYPES_H
#define TC_TYPES_H

/** Status returned by every kernel. */
typedef enum { TC_OK = 0, TC_ERR_ARG = -1 } tc_status;

#endif /* TC_TYPES_H */
