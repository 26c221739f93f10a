/**
 * @file tc_layouts_pcsr_internal.h
 * @brief The PCSR row engine the PCSR kernels share (not a public API).
 *
 * Defined in tc_fc_pcsr_s8.c and run by the FC kernel; the conv kernels
 * decode the stream row by row instead (tc_conv_sparse_internal.h).
 */
#ifndef TC_LAYOUTS_PCSR_INTERNAL_H
#define TC_LAYOUTS_PCSR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tc_layouts_internal.h"

/** Index of the lowest set bit of v (v != 0): RBIT + CLZ on Cortex-M4. */
static inline uint32_t tc_ctz32(uint32_t v)
{
#if defined(__GNUC__)
    return (uint32_t)__builtin_ctz(v);
#else
    uint32_t i = 0u;
    while ((v & 1u) == 0u) {
        v >>= 1;
        ++i;
    }
    return i;
#endif
}

void tc_rows_pcsr_s8(const void *w, const tc_quant_params *q, int32_t rows,
                     const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out);

/** Layout check, once per call. */
static inline int tc_pcsr_ok(const tc_pcsr_weights *w)
{
    return w != NULL && w->n_entries >= 0 && w->span >= 1 && w->rice_bits >= 0 &&
           w->rice_bits <= 8 && w->value_bits >= 1 && w->value_bits <= 8 &&
           (w->n_entries == 0 || w->stream != NULL);
}

#endif /* TC_LAYOUTS_PCSR_INTERNAL_H */
