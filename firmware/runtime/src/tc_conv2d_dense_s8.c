/**
 * @file tc_conv2d_dense_s8.c
 * @brief tc_conv2d_dense_s8: the dense row engine at every output position.
 *
 * When a patch is narrow (in_c * kernel_w small, e.g. a first layer on one
 * input channel) each of its kernel_h runs is too short for the row engine's
 * 4-wide SMLAD loop, and the per-run set-up costs more than the MACs. Then,
 * if the whole patch fits TC_CONV_GATHER_MAX bytes, it is first copied into a
 * contiguous stack buffer and the engine runs once over it as one FC row set:
 * same columns, same order, so the same sums (bit-exact), fewer instructions.
 */
#include <string.h>

#include "tc_conv2d.h"
#include "tc_layouts_internal.h"

/** Largest patch (kernel_h * kernel_w * in_c bytes) gathered on the stack. */
#define TC_CONV_GATHER_MAX 64
/** Gather only when a run is shorter than this (longer runs already stream well). */
#define TC_CONV_GATHER_RUN 16

/* GCC -O2 turns copy loops into memcpy calls, which cost more than a short
   run; keep the loops as loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define TC_NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TC_NO_MEMCPY_IDIOM
#endif

/* Copy the kernel_h runs of one patch into buf (word copies, then bytes). */
TC_NO_MEMCPY_IDIOM static void gather(const int8_t *x, int32_t runs, int32_t run_len, int32_t run_stride, int8_t *buf)
{
    for (int32_t r = 0; r < runs; ++r, x += run_stride) {
        int32_t i = 0;
        for (; i + 4 <= run_len; i += 4) {
            uint32_t v;
            memcpy(&v, x + i, sizeof v); /* unaligned word access (LDR/STR on Cortex-M4) */
            memcpy(buf + i, &v, sizeof v);
        }
        for (; i < run_len; ++i) {
            buf[i] = x[i];
        }
        buf += run_len;
    }
}

static tc_status conv_gathered(const tc_conv_dims *d, const tc_quant_params *q,
                               const tc_dense_weights *w, const int8_t *input, int8_t *output)
{
    int8_t buf[TC_CONV_GATHER_MAX];
    const int32_t row_stride = d->in_w * d->in_c, run_len = d->kernel_w * d->in_c;
    const tc_patch flat = {1, d->kernel_h * run_len, 1, 0};
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int8_t *x_row = input + oy * d->stride_h * row_stride;
        int8_t *out = output + oy * d->out_w * d->out_c;
        for (int32_t ox = 0; ox < d->out_w; ++ox, out += d->out_c) {
            gather(x_row + ox * d->stride_w * d->in_c, d->kernel_h, run_len, row_stride, buf);
            tc_rows_dense_s8(w, q, d->out_c, &flat, buf, 0, out);
        }
    }
    return TC_OK;
}

tc_status tc_conv2d_dense_s8(const tc_conv_dims *dims, const tc_quant_params *quant,
                             const tc_dense_weights *weights, const int8_t *input, int8_t *output)
{
    if (!tc_dense_ok(weights)) {
        return TC_ERR_ARG;
    }
    if (tc_conv_dims_ok(dims, 0) && tc_quant_ok(quant) && input != NULL && output != NULL &&
        dims->kernel_h > 1 && dims->kernel_w * dims->in_c < TC_CONV_GATHER_RUN &&
        dims->kernel_h * dims->kernel_w * dims->in_c <= TC_CONV_GATHER_MAX) {
        return conv_gathered(dims, quant, weights, input, output);
    }
    return tc_conv_run(dims, quant, weights, input, output, 0, tc_rows_dense_s8);
}
