/**
 * @file tc_conv2d_dense_add_s8.c
 * @brief tc_conv2d_dense_add_s8: tc_conv2d_dense_s8 with the residual add after it
 *        fused into its output stage, the sums written over the add's other input.
 *
 * The convolution's outputs never exist as a tensor: each pair of output
 * pixels (2 * out_c values) is staged in the kernel's scratch, then added to
 * the skip tensor's same elements with tc_add_s8's arithmetic (tc_add2_run,
 * planned once per call) and stored over them. Element i of the skip tensor is
 * read before it is written, and no other is touched, so the result is the
 * convolution followed by tc_add_s8, bit for bit.
 */
#include <stddef.h>

#include "tc_add_internal.h"
#include "tc_conv2d.h"
#include "tc_conv_dense_internal.h"

typedef struct {
    tc_conv_post base; /* first: the kernel passes &base back */
    tc_add2 add;
    int8_t *skip;
    int32_t conv_slot;
} add_post;

static void store_sum(const tc_conv_post *post, const int8_t *sums, int32_t offset, int32_t n)
{
    const add_post *a = (const add_post *)post;
    int8_t *skip = a->skip + offset;
    const int8_t *x0 = a->conv_slot == 0 ? sums : skip, *x1 = a->conv_slot == 0 ? skip : sums;
    if (!tc_add2_fast(&a->add, x0, x1, n, skip)) {
        tc_add2_run(&a->add, x0, x1, n, skip);
    }
}

int32_t tc_conv2d_dense_add_s8_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return tc_conv2d_dense_post_buffer_size(dims, bits);
}

tc_status tc_conv2d_dense_add_s8(const tc_context *ctx, const tc_conv_dims *dims,
                                 const tc_quant_params *quant, const tc_dense_weights *weights,
                                 const int8_t *input, const tc_conv_add *add)
{
    add_post post;
    if (add == NULL || add->skip == NULL || (add->conv_slot != 0 && add->conv_slot != 1) ||
        !tc_add2_init(&post.add, add->params)) {
        return TC_ERR_ARG;
    }
    post.base.store = store_sum;
    post.skip = add->skip;
    post.conv_slot = add->conv_slot;
    return tc_conv2d_dense_post_s8(ctx, dims, quant, weights, input, &post.base);
}
