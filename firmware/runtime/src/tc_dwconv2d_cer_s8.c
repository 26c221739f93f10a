/** @file tc_dwconv2d_cer_s8.c  @brief tc_dwconv2d_cer_s8: each row decoded once into the sparse engine. */
#include "tc_conv_sparse_internal.h"
#include "tc_dwconv2d.h"

tc_status tc_dwconv2d_cer_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_cer_weights *weights,
                             const int8_t *input, int8_t *output)
{
    if (!tc_cer_ok(weights)) {
        return TC_ERR_ARG;
    }
    return tc_conv_sparse_run(ctx, dims, quant, 1, tc_decode_cer, (void *)weights, input,
                              output);
}
