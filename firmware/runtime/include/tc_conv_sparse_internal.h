/**
 * @file tc_conv_sparse_internal.h
 * @brief The sparse convolution engine and its per-layout row decoders (not a public API).
 *
 * A sparse conv2d or depthwise kernel runs output channel ("row") by output
 * channel: the row's weights are decoded once per call into the caller's
 * scratch, then every output pixel is computed with them
 * (tc_conv_sparse_run, tc_conv_sparse_s8.c). A decoder writes the row's
 * levels at their columns of a zeroed int8 row of K = kernel_h * kernel_w *
 * cpt levels (cpt: in_c for conv2d, 1 for depthwise), turning each stored
 * input offset (ky*in_w + kx)*in_c + ci back into its column (ky*kw + kx)*cpt + ci;
 * the engine then lists the non-zero levels with their input offsets, tap by
 * tap, so that a pixel whose window lies inside the input is one flat loop
 * over the list and a pixel on the border skips the taps that fall in the
 * padding (they read pad_value).
 */
#ifndef TC_CONV_SPARSE_INTERNAL_H
#define TC_CONV_SPARSE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tc_conv2d.h"
#include "tc_layouts_internal.h"
#include "tc_layouts_pcsr_internal.h"

/** Where a stored offset lies in a row: the kernel window's shape. */
typedef struct {
    int32_t kernel_h, kernel_w;
    int32_t cpt;        /**< columns per tap: in_c (conv2d) or 1 (depthwise) */
    int32_t in_c;       /**< input channels: a tap's offset step */
    int32_t row_stride; /**< in_w * in_c: an input row's offset step */
} tc_sparse_geom;

/** Column of input offset `off`, or -1 when it lies outside the kernel window. */
static inline int32_t tc_sparse_col(const tc_sparse_geom *g, uint32_t off)
{
    const uint32_t ky = off / (uint32_t)g->row_stride;
    const uint32_t rem = off - ky * (uint32_t)g->row_stride;
    const uint32_t kx = rem / (uint32_t)g->in_c, ci = rem - kx * (uint32_t)g->in_c;
    if (ky >= (uint32_t)g->kernel_h || kx >= (uint32_t)g->kernel_w || ci >= (uint32_t)g->cpt) {
        return -1;
    }
    return (int32_t)((ky * (uint32_t)g->kernel_w + kx) * (uint32_t)g->cpt + ci);
}

/**
 * A row decoder: writes row r's levels into wrow (K levels, zeroed by the
 * engine); rows are asked for in order 0, 1, 2, ... Returns 0, or -1 for an
 * offset outside the window.
 */
typedef int (*tc_sparse_decode_fn)(void *state, int32_t r, const tc_sparse_geom *g,
                                   int8_t *wrow);

/** Scratch bytes of the engine (tc_conv2d_sparse_s8_buffer_size / tc_dwconv2d_...). */
int32_t tc_conv_sparse_buffer_bytes(const tc_conv_dims *d, int depthwise);

/** Check the arguments, then decode and sweep every row (channel) of the layer. */
tc_status tc_conv_sparse_run(const tc_context *ctx, const tc_conv_dims *d,
                             const tc_quant_params *q, int depthwise, tc_sparse_decode_fn dec,
                             void *state, const int8_t *input, int8_t *output);

/* ---- the decoders (static inline: each kernel file uses only its own) ---- */

/** CSR: values[j] at col_idx[j], j in row_ptr[r] .. row_ptr[r+1]. */
static inline int tc_decode_csr(void *state, int32_t r, const tc_sparse_geom *g, int8_t *wrow)
{
    const tc_csr_weights *w = (const tc_csr_weights *)state;
    const uint32_t j1 = tc_index_at(w->row_ptr, w->row_ptr_type, r + 1);
    for (uint32_t j = tc_index_at(w->row_ptr, w->row_ptr_type, r); j < j1; ++j) {
        const int32_t col = tc_sparse_col(g, tc_index_at(w->col_idx, w->col_idx_type, (int32_t)j));
        if (col < 0) {
            return -1;
        }
        wrow[col] = w->values[j];
    }
    return 0;
}

/* The groups of a CER/CSER row: group gr holds level omega[idx(gr)]; every other
   column omega[0]. */
static inline int tc_decode_groups(const int8_t *omega, const void *col_idx,
                                   tc_index_type col_t, const void *omega_ptr,
                                   tc_index_type ptr_t, const void *row_ptr,
                                   tc_index_type row_t, const uint8_t *omega_idx, int32_t r,
                                   const tc_sparse_geom *g, int8_t *wrow)
{
    if (omega[0] != 0) {
        const int32_t cols = g->kernel_h * g->kernel_w * g->cpt;
        for (int32_t c = 0; c < cols; ++c) {
            wrow[c] = omega[0];
        }
    }
    const uint32_t g0 = tc_index_at(row_ptr, row_t, r), g1 = tc_index_at(row_ptr, row_t, r + 1);
    for (uint32_t gr = g0; gr < g1; ++gr) {
        const int8_t level = omega[omega_idx != NULL ? omega_idx[gr] : gr - g0 + 1u];
        const uint32_t e1 = tc_index_at(omega_ptr, ptr_t, (int32_t)gr + 1);
        for (uint32_t e = tc_index_at(omega_ptr, ptr_t, (int32_t)gr); e < e1; ++e) {
            const int32_t col = tc_sparse_col(g, tc_index_at(col_idx, col_t, (int32_t)e));
            if (col < 0) {
                return -1;
            }
            wrow[col] = level;
        }
    }
    return 0;
}

/** CER: row r's k-th group holds omega[k+1]. */
static inline int tc_decode_cer(void *state, int32_t r, const tc_sparse_geom *g, int8_t *wrow)
{
    const tc_cer_weights *w = (const tc_cer_weights *)state;
    return tc_decode_groups(w->omega, w->col_idx, w->col_idx_type, w->omega_ptr,
                            w->omega_ptr_type, w->row_ptr, w->row_ptr_type, NULL, r, g, wrow);
}

/** CSER: group gr holds omega[omega_idx[gr]]. */
static inline int tc_decode_cser(void *state, int32_t r, const tc_sparse_geom *g, int8_t *wrow)
{
    const tc_cser_weights *w = (const tc_cser_weights *)state;
    return tc_decode_groups(w->omega, w->col_idx, w->col_idx_type, w->omega_ptr,
                            w->omega_ptr_type, w->row_ptr, w->row_ptr_type, w->omega_idx, r, g,
                            wrow);
}

/**
 * PCSR: the stream read in order, one entry ahead (rows are decoded in
 * order). The window refill is tc_rows_pcsr_s8's: a word is read only when
 * the entry being decoded has bits in it, never past the stream.
 */
typedef struct {
    const uint16_t *s;
    uint32_t buf, n, k, kv, kmask, up, down;
    int32_t left; /* entries not yet decoded */
    int32_t pos;  /* position r*span + offset of the entry ahead */
    int32_t val;  /* its level */
    int32_t has;  /* 1 while an entry is ahead */
    int32_t span;
} tc_pcsr_cursor;

static inline void tc_pcsr_next(tc_pcsr_cursor *c)
{
    if (c->left == 0) {
        c->has = 0;
        return;
    }
    while (c->buf == 0u) { /* every unread bit is a quotient zero: 2^k positions each */
        c->pos += (int32_t)(c->n << c->k);
        c->buf = *c->s++;
        c->n = 16u;
    }
    const uint32_t z = tc_ctz32(c->buf);
    c->buf >>= z + 1u;
    c->n -= z + 1u;
    if (c->n < c->kv) {
        c->buf |= (uint32_t)*c->s++ << c->n;
        c->n += 16u;
    }
    c->pos += (int32_t)((z << c->k) + (c->buf & c->kmask)) + 1;
    c->val = (int32_t)(c->buf << c->up) >> c->down;
    c->buf >>= c->kv;
    c->n -= c->kv;
    --c->left;
    c->has = 1;
}

static inline void tc_pcsr_cursor_init(tc_pcsr_cursor *c, const tc_pcsr_weights *w)
{
    c->s = w->stream;
    c->buf = 0u;
    c->n = 0u;
    c->k = (uint32_t)w->rice_bits;
    c->kv = c->k + (uint32_t)w->value_bits;
    c->kmask = (1u << c->k) - 1u;
    c->up = 32u - c->kv;
    c->down = 32u - (uint32_t)w->value_bits;
    c->left = w->n_entries;
    c->pos = -1;
    c->span = w->span;
    c->has = 0;
    tc_pcsr_next(c);
}

static inline int tc_decode_pcsr(void *state, int32_t r, const tc_sparse_geom *g, int8_t *wrow)
{
    tc_pcsr_cursor *c = (tc_pcsr_cursor *)state;
    const int32_t first = r * c->span;
    while (c->has && c->pos < first + c->span) {
        const int32_t col = tc_sparse_col(g, (uint32_t)(c->pos - first));
        if (c->pos < first || col < 0) {
            return -1;
        }
        wrow[col] = (int8_t)c->val;
        tc_pcsr_next(c);
    }
    return 0;
}

#endif /* TC_CONV_SPARSE_INTERNAL_H */
