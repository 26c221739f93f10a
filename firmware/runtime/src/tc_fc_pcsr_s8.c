/**
 * @file tc_fc_pcsr_s8.c
 * @brief tc_fc_pcsr_s8, and the PCSR row engine the conv kernels share.
 *
 * The stream is read through a 32-bit window `buf` holding `n` (<= 31)
 * unread bits, LSB = next bit, refilled one uint16 word at a time and only
 * when the entry being decoded has bits in that word (so the kernel never
 * reads past the stream). Per entry: the quotient's zeros are counted with
 * one count-trailing-zeros, then the k remainder bits and the value are
 * taken from the low k + value_bits bits of the window.
 */
#include <stddef.h>

#include "tc_fc.h"
#include "tc_layouts_pcsr_internal.h"

void tc_rows_pcsr_s8(const void *weights, const tc_quant_params *q, int32_t rows,
                     const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out)
{
    const tc_pcsr_weights *w = (const tc_pcsr_weights *)weights;
    const uint16_t *s = w->stream;
    const uint32_t k = (uint32_t)w->rice_bits, kv = k + (uint32_t)w->value_bits;
    const uint32_t kmask = (1u << k) - 1u, up = 32u - kv, down = 32u - (uint32_t)w->value_bits;
    const int32_t span = w->span;
    const tc_out_params o = tc_out_params_of(q);
    uint32_t buf = 0u, n = 0u;
    int32_t r = 0, col = -1; /* row and column (offset) of the last entry */
    const int8_t *xr = x;
    int32_t acc = tc_bias(q, 0);
    (void)patch;
    for (int32_t e = w->n_entries; e > 0; --e) {
        while (buf == 0u) { /* every unread bit is a quotient zero: 2^k columns each */
            col += (int32_t)(n << k);
            buf = *s++;
            n = 16u;
        }
        const uint32_t z = tc_ctz32(buf); /* z more zeros, then the one (z < n <= 31) */
        buf >>= z + 1u;
        n -= z + 1u;
        if (n < kv) {
            buf |= (uint32_t)*s++ << n;
            n += 16u;
        }
        col += (int32_t)((z << k) + (buf & kmask)) + 1;
        const int32_t v = (int32_t)(buf << up) >> down; /* sign-extend bits [k, k + value_bits) */
        buf >>= kv;
        n -= kv;
        while (col >= span) { /* the entry lies in a later row: finish this one */
            out[r] = tc_out_row(&o, acc, r);
            ++r;
            col -= span;
            xr += x_step;
            acc = tc_bias(q, r);
        }
        acc += v * xr[col];
    }
    out[r] = tc_out_row(&o, acc, r);
    for (++r; r < rows; ++r) { /* rows after the last entry: bias only */
        out[r] = tc_out_row(&o, tc_bias(q, r), r);
    }
}

tc_status tc_fc_pcsr_s8(const tc_fc_dims *dims, const tc_quant_params *quant,
                        const tc_pcsr_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_pcsr_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_fc_run(dims, quant, weights, input, output, tc_rows_pcsr_s8);
}
