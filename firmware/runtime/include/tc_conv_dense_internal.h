/**
 * @file tc_conv_dense_internal.h
 * @brief tc_conv2d_dense_s8 with a post-op in its output stage, for the fused
 *        kernels built on it (tc_conv2d_dense_add_s8). Not part of the public API.
 *
 * The kernel computes output pixels two at a time; with a post-op it writes
 * their out_c values each into a small staging area of its scratch (`sums`)
 * and calls `store`, which writes whatever the fused op makes of them.
 */
#ifndef TC_CONV_DENSE_INTERNAL_H
#define TC_CONV_DENSE_INTERNAL_H

#include <stdint.h>

#include "tc_context.h"
#include "tc_conv2d.h"
#include "tc_layouts.h"
#include "tc_types.h"

/* 1: tc_conv2d_dense_s8.c compiles the post-op variant (a build with a fused layer sets
   it, render.py); otherwise its code, and its call through a pointer, stay out of the
   firmware and of its stack's call graph. */
#ifndef TC_CONV_DENSE_POST
#define TC_CONV_DENSE_POST 0
#endif

typedef struct tc_conv_post tc_conv_post;

/** A post-op: `store` gets the convolution's outputs [offset, offset + n) (flat NHWC
    indices) at `sums`; the struct it receives is its own (embed this one first). */
struct tc_conv_post {
    void (*store)(const tc_conv_post *post, const int8_t *sums, int32_t offset, int32_t n);
};

/** Scratch bytes of tc_conv2d_dense_post_s8: tc_conv2d_dense_s8's plus the staged sums
    (2 * out_c, 4-aligned) unless the gather area's patch bytes hold them. */
int32_t tc_conv2d_dense_post_buffer_size(const tc_conv_dims *dims, int32_t bits);

/** tc_conv2d_dense_s8 whose outputs go through `post` instead of to an output tensor. */
tc_status tc_conv2d_dense_post_s8(const tc_context *ctx, const tc_conv_dims *dims,
                                  const tc_quant_params *quant, const tc_dense_weights *weights,
                                  const int8_t *input, const tc_conv_post *post);

#endif /* TC_CONV_DENSE_INTERNAL_H */
