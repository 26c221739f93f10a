/**
 * @file tc_layouts.h
 * @brief Weight layouts and quantization parameters of the weight-op kernels.
 *
 * A weight matrix has `rows` = output channels (FC units, conv2d cout,
 * depthwise channels) and `cols` = fan-in (FC inputs; conv2d taps in
 * (ky, kx, ci) order; depthwise taps in (ky, kx) order). The arrays are
 * produced by tinycompress/layouts (Python); see there for the exact
 * encodings. In the sparse layouts of conv kernels, a column is stored as its
 * input offset from the patch origin (conv2d (ky*W_in + kx)*C_in + ci,
 * depthwise (ky*W_in + kx)*C).
 *
 * Index arrays come in the narrowest unsigned type that holds their values;
 * their type is given by a tc_index_type next to the pointer. Kernels pick a
 * specialised loop once per call, never per element.
 *
 * Integer semantics (bit-exact with tinycompress/reference/weight_ops.py):
 *   acc[r] = bias_f[r] + sum_c W[r,c] * x[c]   (int32)
 *   out[r] = tc_requantize_s8(acc[r], m[r], shift[r], z_out, act_min, act_max)
 */
#ifndef TC_LAYOUTS_H
#define TC_LAYOUTS_H

#include <stdint.h>

#include "tc_types.h"

/** Element type of an index array; the value is its size in bytes. */
typedef enum {
    TC_INDEX_U8 = 1,  /**< uint8_t */
    TC_INDEX_U16 = 2, /**< uint16_t */
    TC_INDEX_U32 = 4  /**< uint32_t */
} tc_index_type;

/** Per-output-channel requantization, computed at build time. */
typedef struct {
    const int32_t *bias_f; /**< [rows] bias_q - z_in * rowsum(W): the input zero point folded in;
                                NULL when the narrower bias16 holds it */
    const int32_t *m;      /**< [rows] (per_channel) or [1]: multiplier, in [2^30, 2^31) */
    const int8_t *shift;   /**< [rows] (per_channel) or [1]: shift, in [-31, 30] */
    int32_t per_channel;   /**< 1: m/shift per row; 0: entry 0 serves every row */
    int32_t z_out;         /**< output zero point, [-128, 127] */
    int32_t act_min;       /**< clamp low (fused activation), [-128, act_max] */
    int32_t act_max;       /**< clamp high, [act_min, 127] */
    const int16_t *bias16; /**< [rows] bias_f stored in 16 bits when every value fits (saves 2 B
                                per row); used only when bias_f is NULL */
} tc_quant_params;

/** Dense layout: every level, row-major. */
typedef struct {
    /** bits == 8: int8_t[rows*cols]. bits < 8: uint8_t[rows*ceil(cols*bits/8)]:
     *  each row starts on a byte boundary; element j of a row is the bits-wide
     *  two's complement level at bits [j*bits, (j+1)*bits) of the row's stream,
     *  stream bit k = bit (k%8) of byte k/8 (LSB first). */
    const void *weights;
    int32_t bits; /**< 1..8 */
} tc_dense_weights;

/** CSR layout. */
typedef struct {
    const int8_t *values;     /**< [nnz] non-zero levels, row after row */
    const void *col_idx;      /**< [nnz] column (FC) or input offset (conv) of each value */
    tc_index_type col_idx_type;
    const void *row_ptr;      /**< [rows+1] row r is values[row_ptr[r] .. row_ptr[r+1]) */
    tc_index_type row_ptr_type;
} tc_csr_weights;

/** CER layout (DESIGN.md "Weight layouts"). */
typedef struct {
    const int8_t *omega;      /**< [K+1] distinct levels, most frequent first; omega[0] not stored per element */
    const void *col_idx;      /**< [nnz] columns/offsets of every group, row after row */
    tc_index_type col_idx_type;
    const void *omega_ptr;    /**< [G+1] group g is col_idx[omega_ptr[g] .. omega_ptr[g+1]) */
    tc_index_type omega_ptr_type;
    const void *row_ptr;      /**< [rows+1] row r has groups row_ptr[r] .. row_ptr[r+1]; its k-th holds omega[k+1] */
    tc_index_type row_ptr_type;
} tc_cer_weights;

/** CSER layout: CER plus the value index of each group (no empty groups). */
typedef struct {
    const int8_t *omega;      /**< [K+1] as CER */
    const void *col_idx;      /**< [nnz] as CER */
    tc_index_type col_idx_type;
    const void *omega_ptr;    /**< [G+1] as CER */
    tc_index_type omega_ptr_type;
    const void *row_ptr;      /**< [rows+1] as CER, over the groups of this layout */
    tc_index_type row_ptr_type;
    const uint8_t *omega_idx; /**< [G] group g holds omega[omega_idx[g]], 1..K (always fits uint8) */
} tc_cser_weights;

/**
 * PCSR layout ("packed CSR", tinycompress/layouts/pcsr.py): the non-zeros in
 * row-major order as one bit stream, no pointer arrays. Position p = r*span +
 * column (FC) or input offset (conv); per entry: gap g = p - previous p - 1
 * (first: p) as q = g >> rice_bits zero bits, a one, the rice_bits low bits
 * of g; then the level, value_bits two's complement. Stream bit i is bit
 * i%16 of stream[i/16]; fields LSB first.
 */
typedef struct {
    const uint16_t *stream; /**< [ceil(bits/16)] the entries; NULL when n_entries == 0 */
    int32_t n_entries;      /**< number of non-zeros, >= 0 */
    int32_t span;           /**< positions per row: cols (FC) or largest offset + 1 (conv), >= 1 */
    int32_t rice_bits;      /**< k, 0..8 */
    int32_t value_bits;     /**< 1..8 */
} tc_pcsr_weights;

#endif /* TC_LAYOUTS_H */
