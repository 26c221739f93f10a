/**
 * @file tc_conv2d.h
 * @brief 2-D convolution, int8 NHWC, in each weight layout, padding inside the kernel.
 *
 * output[oy][ox][co] = requant(bias_f[co] + sum_{ky,kx,ci} W[co][(ky*kw + kx)*cin + ci] *
 * X[oy*sh + ky - pad_top][ox*sw + kx - pad_left][ci]), where X is the input
 * and reads pad_value (the input zero point) outside it: a padded tap then
 * contributes nothing after the zero-point correction folded into bias_f,
 * exactly as an explicitly padded copy would, but no copy is made ('same'
 * convolutions need no pad operator). No allocation: the dense kernel takes
 * scratch memory from its caller (tc_conv2d_dense_s8_buffer_size) for a
 * partial im2col of two output pixels; the sparse kernels
 * (tc_conv2d_sparse_s8_buffer_size) decode one output channel's weights at a
 * time into it, once per call, and sweep every output pixel with them.
 * input and output must not overlap.
 */
#ifndef TC_CONV2D_H
#define TC_CONV2D_H

#include <stdint.h>

#include "tc_context.h"
#include "tc_int_ops.h"
#include "tc_layouts.h"
#include "tc_types.h"

/**
 * Dimensions of a convolution (also used by the depthwise kernels). Output row
 * oy reads input rows oy*stride_h - pad_top .. + kernel_h - 1; rows outside
 * [0, in_h) are padding (likewise columns). The padding after the input is
 * implied by out_h/out_w: pad_bottom = (out_h-1)*stride_h + kernel_h - pad_top - in_h
 * must be < kernel_h, and > -stride_h (no output row left out), so that
 * pad_top = pad_bottom = 0 is exactly the 'valid' convolution,
 * out_h = (in_h - kernel_h)/stride_h + 1. TF 'same' has out_h = ceil(in_h / stride_h),
 * pad_top = max((out_h-1)*stride_h + kernel_h - in_h, 0) / 2.
 */
typedef struct {
    int32_t in_h, in_w, in_c;      /**< input tensor H, W, C (not padded), >= 1 */
    int32_t kernel_h, kernel_w;    /**< kernel size, 1..in_h / 1..in_w */
    int32_t stride_h, stride_w;    /**< strides, >= 1 */
    int32_t out_h, out_w, out_c;   /**< output H, W (see above), out_c = cout (depthwise: in_c) */
    int32_t pad_top, pad_left;     /**< implicit padding before the input, 0..kernel_h-1 / 0..kernel_w-1 */
    int32_t pad_value;             /**< what a padded tap reads: the input zero point, -128..127 */
} tc_conv_dims;

/**
 * @brief Scratch bytes tc_conv2d_dense_s8 needs, with K = kernel_h * kernel_w * in_c
 *        rounded up to whole groups of levels (4 at 8 bits, 8 at 4..7, 16 at 2..3,
 *        32 at 1): 20 * out_c for the output channels' requantization constants;
 *        4 * K for the patches of two output pixels as int16 lanes (12 * K, six
 *        pixels, at 8 bits for a 1x1 stride 1 kernel or K <= 64); plus K to gather
 *        a patch (6 * K, six patches, with six pixels) when a kernel row (kernel_w *
 *        in_c) is not a whole number of groups, or when some window reaches into the
 *        padding (tc_conv_padded); plus,
 *        when a row's groups read past its end, a zero-padded copy of the last rows
 *        (tc_dense_tail_bytes, tc_layouts_internal.h; at 8 bits the whole matrix,
 *        out_c * K, its rows padded to whole groups).
 * @param dims the whole geometry (checked as by the kernel)
 * @param bits the weights' bit width, 1..8
 * @return bytes (> 0), or 0 for invalid arguments
 */
int32_t tc_conv2d_dense_s8_buffer_size(const tc_conv_dims *dims, int32_t bits);

/**
 * @brief The least scratch tc_conv2d_dense_s8 runs with: tc_conv2d_dense_s8_buffer_size's
 *        with two pixels' columns and one gather area (a context between the two takes
 *        two pixels a pass instead of six).
 */
int32_t tc_conv2d_dense_s8_min_buffer_size(const tc_conv_dims *dims, int32_t bits);

/**
 * @brief Scratch bytes of every sparse convolution kernel (tc_conv2d_{csr,cer,cser,pcsr}_s8),
 *        with K = kernel_h * kernel_w * in_c: one output channel's non-zero weights
 *        listed as (int32 offset, int32 level) pairs, 8 * K. When some window reaches
 *        into the padding, plus the smaller of: a copy of the input with its padding,
 *        span_h * span_w * in_c rounded up to 4 (span = (out - 1) * stride + kernel,
 *        the rows and columns the windows cover); or a second such list and four
 *        int32 arrays of kernel_h * kernel_w + 2 (the lists sorted by tap), 8 * K +
 *        16 * (kernel_h * kernel_w + 2).
 *        A context of at least 8 * K bytes also serves: the pixels whose windows reach
 *        into the padding then run over the list partitioned in place, rectangle by
 *        rectangle of pixels with the same taps inside (slower on small maps).
 * @param dims the whole geometry
 * @return bytes (> 0), or 0 for invalid arguments
 */
int32_t tc_conv2d_sparse_s8_buffer_size(const tc_conv_dims *dims);

/**
 * @brief Conv2d with dense weights: cout rows x (kernel_h*kernel_w*in_c) columns, (ky, kx, ci) order.
 * @param ctx     scratch: buf 4-byte aligned, size >= tc_conv2d_dense_s8_min_buffer_size(dims,
 *                bits) (tc_conv2d_dense_s8_buffer_size(dims, bits) for the fastest path);
 *                not overlapping input or output
 * @param dims    shapes, kernel size and strides (checked)
 * @param quant   per-output-channel bias_f/m/shift [out_c], z_out, act_min, act_max
 * @param weights dense levels
 * @param input   int8 [in_h][in_w][in_c]
 * @param output  int8 [out_h][out_w][out_c]
 * @return TC_OK, or TC_ERR_ARG for NULL pointers, inconsistent dims, bits outside 1..8
 *         (or not compiled, TC_DENSE_BITS) or too little scratch
 */
tc_status tc_conv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_dense_weights *weights,
                             const int8_t *input, int8_t *output);

/** A residual add fused into a dense convolution (tc_conv2d_dense_add_s8). */
typedef struct {
    int8_t *skip;                /**< int8 [out_h][out_w][out_c]: the add's other input; the sums
                                      are written over it */
    int32_t conv_slot;           /**< which input of the add the convolution is: 0 or 1 */
    const tc_add_params *params; /**< the add's constants (two inputs), as for tc_add_s8 */
} tc_conv_add;

/**
 * @brief Scratch bytes tc_conv2d_dense_add_s8 needs: tc_conv2d_dense_s8_buffer_size's
 *        plus two output pixels (2 * out_c, rounded up to 4) unless the gather area's
 *        first K bytes hold them.
 */
int32_t tc_conv2d_dense_add_s8_buffer_size(const tc_conv_dims *dims, int32_t bits);

/**
 * @brief tc_conv2d_dense_s8 followed by tc_add_s8 with the skip tensor, in one pass:
 *        skip[i] = add(conv[i], skip[i]) (inputs in the add's order, conv_slot). Same
 *        results as the two calls; the convolution's output tensor is never stored.
 * @param ctx  scratch of tc_conv2d_dense_add_s8_buffer_size(dims, bits) bytes, 4-byte
 *             aligned, overlapping neither input nor skip
 * @param add  skip tensor (not overlapping input), which add input the convolution is,
 *             the add's constants
 * Other arguments as tc_conv2d_dense_s8. Returns TC_ERR_ARG as it does, and for a
 * NULL or invalid add.
 */
tc_status tc_conv2d_dense_add_s8(const tc_context *ctx, const tc_conv_dims *dims,
                                 const tc_quant_params *quant, const tc_dense_weights *weights,
                                 const int8_t *input, const tc_conv_add *add);

/**
 * @brief Conv2d, CSR weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci
 *        (in_w the unpadded width). Arguments as dense; ctx of at least
 *        tc_conv2d_sparse_s8_buffer_size(dims) bytes. Each output channel's weights are
 *        decoded once per call, then every output pixel computed with them. The
 *        sparse kernels also return TC_ERR_ARG for an offset outside the kernel
 *        window (output channels before it are then already written).
 */
tc_status tc_conv2d_csr_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_csr_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as tc_conv2d_csr_s8. */
tc_status tc_conv2d_cer_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                           const tc_cer_weights *weights, const int8_t *input, int8_t *output);

/** @brief Conv2d, CSER weights; col_idx holds input offsets (ky*in_w + kx)*in_c + ci. Arguments as tc_conv2d_csr_s8. */
tc_status tc_conv2d_cser_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_cser_weights *weights, const int8_t *input, int8_t *output);

/** @brief Convolution, PCSR; positions are input offsets (ky*in_w + kx)*in_c + ci. Arguments as tc_conv2d_csr_s8. */
tc_status tc_conv2d_pcsr_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                            const tc_pcsr_weights *weights, const int8_t *input, int8_t *output);

#endif /* TC_CONV2D_H */
