/**
 * @file tc_dwconv2d.h
 * @brief Depthwise 2-D convolution (depth multiplier 1), int8 NHWC, in each layout,
 *        padding inside the kernel.
 *
 * output[oy][ox][c] = requant(bias_f[c] + sum_{ky,kx} W[c][ky*kw + kx] *
 * X[oy*sh + ky - pad_top][ox*sw + kx - pad_left][c]), X reading pad_value
 * outside the input (tc_conv_dims, tc_conv2d.h). Weight matrix: C rows x
 * (kernel_h*kernel_w) columns. No allocation: the dense kernel copies a 3 x 3
 * layer's input one channel at a time into the caller's scratch (other kernels:
 * four channels' unpacked levels), tc_dwconv2d_dense_s8_buffer_size; the sparse
 * kernels decode one channel at a time into it, tc_dwconv2d_sparse_s8_buffer_size.
 * Every kernel sweeps the output in raster order one pass per channel or group of
 * four channels, each pass reading and writing only its own channels and reading
 * an input row before the first output row whose windows reach it: the output may
 * start a whole number of pixels k below the input when no window of pixel p
 * reads a pixel below p - k (codegen/overlap.py); otherwise input and output must
 * not overlap. (A sparse kernel given less than its buffer size on a padded layer
 * goes rectangle by rectangle, not in raster order: no overlap then.)
 */
#ifndef TC_DWCONV2D_H
#define TC_DWCONV2D_H

#include <stdint.h>

#include "tc_conv2d.h"
#include "tc_layouts.h"
#include "tc_types.h"

/**
 * @brief Scratch bytes tc_dwconv2d_dense_s8 needs: 3 x 3 at stride 1, one channel's
 *        padded input as int16 rows of (sweep length + 4) rounded down to even
 *        columns: transposed (out_w + 2 rows, sweeps of out_h) when taller than
 *        wide and within 2,048 bytes, else out_h + 2 rows within 2,048 bytes, else
 *        three (a ring); other kernels and strides, 200 (four channels' levels).
 * @return bytes (> 0), or 0 for invalid dims
 */
int32_t tc_dwconv2d_dense_s8_buffer_size(const tc_conv_dims *dims);

/**
 * @brief Depthwise conv2d with dense weights. 3 x 3 at stride 1: one channel at a
 *        time over int16 rows of its padded input (SMLAD on pairs of taps with the
 *        DSP extension); other kernels and strides: four channels at a time
 *        (SXTB16 + SMLABB/SMLATT).
 * @param ctx     scratch of tc_dwconv2d_dense_s8_buffer_size(dims) bytes, 4-aligned
 * @param dims    tc_conv_dims with out_c == in_c (checked)
 * @param quant   per-channel bias_f/m/shift [in_c], z_out, act_min, act_max
 * @param weights dense levels, in_c x (kernel_h*kernel_w)
 * @param input   int8 [in_h][in_w][in_c]
 * @param output  int8 [out_h][out_w][in_c]
 * @return TC_OK, or TC_ERR_ARG for NULL pointers, inconsistent dims or too little scratch
 */
tc_status tc_dwconv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                               const tc_quant_params *quant, const tc_dense_weights *weights,
                               const int8_t *input, int8_t *output);

/**
 * @brief Scratch bytes of every sparse depthwise kernel (tc_dwconv2d_{csr,cer,cser,pcsr}_s8):
 *        as tc_conv2d_sparse_s8_buffer_size with K = kernel_h * kernel_w (the padded
 *        copy still holds every channel).
 */
int32_t tc_dwconv2d_sparse_s8_buffer_size(const tc_conv_dims *dims);

/**
 * @brief Depthwise, CSR; col_idx holds offsets (ky*in_w + kx)*in_c (channel c reads
 *        input[base + c + off]). ctx: tc_dwconv2d_sparse_s8_buffer_size(dims) bytes; each
 *        channel's weights are decoded once per call. Other arguments as dense.
 */
tc_status tc_dwconv2d_csr_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                             const tc_csr_weights *weights, const int8_t *input, int8_t *output);

/** @brief Depthwise, CER; col_idx holds offsets (ky*in_w + kx)*in_c. Arguments as tc_dwconv2d_csr_s8. */
tc_status tc_dwconv2d_cer_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                             const tc_cer_weights *weights, const int8_t *input, int8_t *output);

/** @brief Depthwise, CSER; col_idx holds offsets (ky*in_w + kx)*in_c. Arguments as tc_dwconv2d_csr_s8. */
tc_status tc_dwconv2d_cser_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                              const tc_cser_weights *weights, const int8_t *input, int8_t *output);

/** @brief Depthwise, PCSR; positions are offsets (ky*in_w + kx)*in_c. Arguments as tc_dwconv2d_csr_s8. */
tc_status tc_dwconv2d_pcsr_s8(const tc_context *ctx, const tc_conv_dims *dims, const tc_quant_params *quant,
                              const tc_pcsr_weights *weights, const int8_t *input, int8_t *output);

#endif /* TC_DWCONV2D_H */
