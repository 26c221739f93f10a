/** @file tc_dwconv2d_pcsr_s8.c  @brief tc_dwconv2d_pcsr_s8: the stream decoded row by row, once, into the sparse engine. */
#include "tc_conv_sparse_internal.h"
#include "tc_dwconv2d.h"

tc_status tc_dwconv2d_pcsr_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_pcsr_weights *weights,
                             const int8_t *input, int8_t *output)
{
    if (!tc_pcsr_ok(weights)) {
        return TC_ERR_ARG;
    }
    tc_pcsr_cursor cursor;
    tc_pcsr_cursor_init(&cursor, weights);
    return tc_conv_sparse_run(ctx, dims, quant, 1, tc_decode_pcsr, &cursor, input, output);
}
