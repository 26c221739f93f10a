/**
 * @file tc_conv_sparse_internal.h
 * @brief The sparse convolution engine and its per-layout row decoders (not a public API).
 *
 * A sparse conv2d or depthwise kernel runs output channel ("row") by output
 * channel: the row's weights are decoded once per call into the caller's
 * scratch, then every output pixel is computed with them
 * (tc_conv_sparse_run, tc_conv_sparse_s8.c). A decoder lists the row's
 * non-zero levels with their input offsets (ky*in_w + kx)*in_c + ci as
 * stored (plus ky * row_extra, tc_sparse_geom), in any order, after checking
 * that each offset lies inside the kernel window (ky < kernel_h,
 * kx < kernel_w, ci < cpt; cpt: in_c for conv2d, 1 for depthwise): at most
 * K = kernel_h * kernel_w * cpt entries.
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
    int32_t cols;       /**< K = kernel_h * kernel_w * cpt: the most entries a row lists */
    int32_t row_extra;  /**< added to a listed offset per kernel row (the engine's padded copy
                             of the input is wider than the input), else 0 */
} tc_sparse_geom;

/**
 * One non-zero weight: its input offset from the window's origin and its level,
 * both int32 so that a loop reads the pair with one LDRD.
 */
typedef struct {
    int32_t off;
    int32_t lv;
} tc_sparse_entry;

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
 * A row decoder: lists row r's non-zero levels with their input offsets in
 * e[0 .. n) (room for g->cols entries) and returns n; rows are asked for in
 * order 0, 1, 2, ... Returns -1 for an offset outside the window or more
 * entries than the window has columns.
 */
typedef int32_t (*tc_sparse_decode_fn)(void *state, int32_t r, const tc_sparse_geom *g,
                                       tc_sparse_entry *e);

/** Scratch bytes of the engine (tc_conv2d_sparse_s8_buffer_size / tc_dwconv2d_...). */
int32_t tc_conv_sparse_buffer_bytes(const tc_conv_dims *d, int depthwise);

/** The least scratch the engine runs with: the list alone (padded layers then go
    rectangle by rectangle, slower; tc_conv_sparse_s8.c). */
int32_t tc_conv_sparse_min_buffer_bytes(const tc_conv_dims *d, int depthwise);

/** Check the arguments, then decode and sweep every row (channel) of the layer. */
tc_status tc_conv_sparse_run(const tc_context *ctx, const tc_conv_dims *d,
                             const tc_quant_params *q, int depthwise, tc_sparse_decode_fn dec,
                             void *state, const int8_t *input, int8_t *output);

/* ---- the decoders (static inline: each kernel file uses only its own) ---- */

/* Offset `off` as listed (+ ky * row_extra), or -1 when it lies outside the kernel window
   (ky < kernel_h, kx < kernel_w, ci < cpt: with rem = kx * in_c + ci, rem < kernel_w *
   in_c and, for depthwise (cpt 1), ci = rem % in_c = 0). */
static TC_ALWAYS_INLINE inline int32_t tc_sparse_off(const tc_sparse_geom *g, uint32_t off)
{
    const uint32_t ky = off / (uint32_t)g->row_stride, rem = off - ky * (uint32_t)g->row_stride;
    if (ky >= (uint32_t)g->kernel_h || rem >= (uint32_t)(g->kernel_w * g->in_c) ||
        (g->cpt != g->in_c && rem % (uint32_t)g->in_c != 0u)) {
        return -1;
    }
    return (int32_t)(off + ky * (uint32_t)g->row_extra);
}

/* Entries j0 .. j1-1 of an index array of type t (a constant where inlined), each
   with level values[j] (values != NULL) or `level`. */
static TC_ALWAYS_INLINE inline int32_t tc_sparse_list(const void *idx, tc_index_type t,
                                                      uint32_t j0, uint32_t j1,
                                                      const int8_t *values, int32_t level,
                                                      const tc_sparse_geom *g,
                                                      tc_sparse_entry *e)
{
    const tc_sparse_geom gl = *g; /* a local copy: the stores to e cannot alias it */
    for (uint32_t j = j0; j < j1; ++j, ++e) {
        const int32_t off = tc_sparse_off(&gl, tc_index_at(idx, t, (int32_t)j));
        if (off < 0) {
            return -1;
        }
        e->off = off;
        e->lv = values != NULL ? values[j] : level;
    }
    return 0;
}

/* tc_sparse_list with the loop specialised for each compiled index type (`variants`:
   bit tc_index_slot(t)). */
static TC_ALWAYS_INLINE inline int32_t tc_sparse_list_any(const void *idx, tc_index_type t,
                                                          uint32_t variants, uint32_t j0,
                                                          uint32_t j1, const int8_t *values,
                                                          int32_t level,
                                                          const tc_sparse_geom *g,
                                                          tc_sparse_entry *e)
{
    if ((variants & 1u) && t == TC_INDEX_U8) {
        return tc_sparse_list(idx, TC_INDEX_U8, j0, j1, values, level, g, e);
    }
    if ((variants & 2u) && t == TC_INDEX_U16) {
        return tc_sparse_list(idx, TC_INDEX_U16, j0, j1, values, level, g, e);
    }
    if ((variants & 4u) && t == TC_INDEX_U32) {
        return tc_sparse_list(idx, TC_INDEX_U32, j0, j1, values, level, g, e);
    }
    return -1; /* not compiled (the kernel's check rejects it first) */
}

/** CSR: values[j] at col_idx[j], j in row_ptr[r] .. row_ptr[r+1]. */
static inline int32_t tc_decode_csr(void *state, int32_t r, const tc_sparse_geom *g,
                                    tc_sparse_entry *e)
{
    const tc_csr_weights *w = (const tc_csr_weights *)state;
    const uint32_t j0 = tc_index_at(w->row_ptr, w->row_ptr_type, r);
    const uint32_t j1 = tc_index_at(w->row_ptr, w->row_ptr_type, r + 1);
    if (j1 <= j0) {
        return 0;
    }
    if (j1 - j0 > (uint32_t)g->cols ||
        tc_sparse_list_any(w->col_idx, w->col_idx_type, TC_CSR_VARIANTS, j0, j1, w->values, 0,
                           g, e) != 0) {
        return -1;
    }
    return (int32_t)(j1 - j0);
}

/* Groups g0 .. g1-1 of a CER/CSER row listed (omega[0] == 0), col_t and ptr_t
   constants where inlined: group gr holds omega[omega_idx[gr]] (CSER) or
   omega[gr - g0 + 1] (CER, omega_idx NULL); its entries are col_idx[ptr[gr] ..
   ptr[gr+1]). */
static TC_ALWAYS_INLINE inline int32_t tc_groups_list(const int8_t *omega, const void *col_idx,
                                                      tc_index_type col_t,
                                                      const void *omega_ptr,
                                                      tc_index_type ptr_t,
                                                      const uint8_t *omega_idx, uint32_t g0,
                                                      uint32_t g1, const tc_sparse_geom *g,
                                                      tc_sparse_entry *e)
{
    const tc_sparse_geom gl = *g; /* a local copy: the stores to e cannot alias it */
    int32_t n = 0;
    uint32_t j = tc_index_at(omega_ptr, ptr_t, (int32_t)g0);
    for (uint32_t gr = g0; gr < g1; ++gr) {
        const uint32_t j1 = tc_index_at(omega_ptr, ptr_t, (int32_t)gr + 1);
        if (j1 <= j) {
            j = j1;
            continue;
        }
        if (j1 - j > (uint32_t)(gl.cols - n)) {
            return -1;
        }
        const int32_t level = omega[omega_idx != NULL ? omega_idx[gr] : gr - g0 + 1u];
        for (; j < j1; ++j, ++n) {
            const int32_t off = tc_sparse_off(&gl, tc_index_at(col_idx, col_t, (int32_t)j));
            if (off < 0) {
                return -1;
            }
            e[n].off = off;
            e[n].lv = level;
        }
    }
    return n;
}

/* A nearly dense CER/CSER row (omega[0] != 0, every column not in a group holds it):
   all K columns listed in column order, then each group's entries overwrite their
   columns' levels. */
static inline int32_t tc_groups_dense(const int8_t *omega, const void *col_idx,
                                      tc_index_type col_t, const void *omega_ptr,
                                      tc_index_type ptr_t, const uint8_t *omega_idx,
                                      uint32_t g0, uint32_t g1, const tc_sparse_geom *g,
                                      tc_sparse_entry *e)
{
    int32_t n = 0;
    for (int32_t ky = 0; ky < g->kernel_h; ++ky) {
        for (int32_t kx = 0; kx < g->kernel_w; ++kx) {
            for (int32_t ci = 0; ci < g->cpt; ++ci, ++n) {
                e[n].off = ky * (g->row_stride + g->row_extra) + kx * g->in_c + ci;
                e[n].lv = omega[0];
            }
        }
    }
    for (uint32_t gr = g0; gr < g1; ++gr) {
        const int8_t level = omega[omega_idx != NULL ? omega_idx[gr] : gr - g0 + 1u];
        const uint32_t e1 = tc_index_at(omega_ptr, ptr_t, (int32_t)gr + 1);
        for (uint32_t j = tc_index_at(omega_ptr, ptr_t, (int32_t)gr); j < e1; ++j) {
            const int32_t col = tc_sparse_col(g, tc_index_at(col_idx, col_t, (int32_t)j));
            if (col < 0) {
                return -1;
            }
            e[col].lv = level;
        }
    }
    return n;
}

/* One (col_idx, omega_ptr) type pair of tc_groups_list, compiled when bit
   3 * col slot + ptr slot of `mask` is set. */
#define TC_GROUPS_CASE(mask, ct, pt)                                                            \
    if (TC_HAS_VARIANT(mask, 3 * tc_index_slot(ct) + tc_index_slot(pt)) && col_t == (ct) &&   \
        ptr_t == (pt)) {                                                                        \
        return tc_groups_list(omega, col_idx, ct, omega_ptr, pt, omega_idx, g0, g1, g, e);      \
    }

/* The groups of a CER/CSER row (see tc_groups_list / tc_groups_dense); `mask` the
   compiled type pairs (TC_CER_VARIANTS / TC_CSER_VARIANTS). */
static TC_ALWAYS_INLINE inline int32_t tc_decode_groups(
    const int8_t *omega, const void *col_idx, tc_index_type col_t, unsigned long mask,
    const void *omega_ptr, tc_index_type ptr_t, const void *row_ptr, tc_index_type row_t,
    const uint8_t *omega_idx, int32_t r, const tc_sparse_geom *g, tc_sparse_entry *e)
{
    const uint32_t g0 = tc_index_at(row_ptr, row_t, r), g1 = tc_index_at(row_ptr, row_t, r + 1);
    if (omega[0] != 0) {
        return tc_groups_dense(omega, col_idx, col_t, omega_ptr, ptr_t, omega_idx, g0, g1, g, e);
    }
    if (g1 <= g0) {
        return 0;
    }
    (void)mask;
    TC_GROUPS_CASE(mask, TC_INDEX_U8, TC_INDEX_U8)
    TC_GROUPS_CASE(mask, TC_INDEX_U8, TC_INDEX_U16)
    TC_GROUPS_CASE(mask, TC_INDEX_U8, TC_INDEX_U32)
    TC_GROUPS_CASE(mask, TC_INDEX_U16, TC_INDEX_U8)
    TC_GROUPS_CASE(mask, TC_INDEX_U16, TC_INDEX_U16)
    TC_GROUPS_CASE(mask, TC_INDEX_U16, TC_INDEX_U32)
    TC_GROUPS_CASE(mask, TC_INDEX_U32, TC_INDEX_U8)
    TC_GROUPS_CASE(mask, TC_INDEX_U32, TC_INDEX_U16)
    TC_GROUPS_CASE(mask, TC_INDEX_U32, TC_INDEX_U32)
    return -1; /* not compiled (the kernel's check rejects it first) */
}

/** CER: row r's k-th group holds omega[k+1]. */
static inline int32_t tc_decode_cer(void *state, int32_t r, const tc_sparse_geom *g,
                                    tc_sparse_entry *e)
{
    const tc_cer_weights *w = (const tc_cer_weights *)state;
    return tc_decode_groups(w->omega, w->col_idx, w->col_idx_type, TC_CER_VARIANTS,
                            w->omega_ptr, w->omega_ptr_type, w->row_ptr, w->row_ptr_type, NULL,
                            r, g, e);
}

/** CSER: group gr holds omega[omega_idx[gr]]. */
static inline int32_t tc_decode_cser(void *state, int32_t r, const tc_sparse_geom *g,
                                     tc_sparse_entry *e)
{
    const tc_cser_weights *w = (const tc_cser_weights *)state;
    return tc_decode_groups(w->omega, w->col_idx, w->col_idx_type, TC_CSER_VARIANTS,
                            w->omega_ptr, w->omega_ptr_type, w->row_ptr, w->row_ptr_type,
                            w->omega_idx, r, g, e);
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

static inline int32_t tc_decode_pcsr(void *state, int32_t r, const tc_sparse_geom *g,
                                     tc_sparse_entry *e)
{
    tc_pcsr_cursor c = *(tc_pcsr_cursor *)state; /* local copies: the stores to e */
    const tc_sparse_geom gl = *g;                 /* cannot alias them */
    const int32_t first = r * c.span;
    int32_t n = 0;
    while (c.has && c.pos < first + c.span) {
        const int32_t off = c.pos < first ? -1 : tc_sparse_off(&gl, (uint32_t)(c.pos - first));
        if (off < 0 || n == gl.cols) {
            return -1;
        }
        e[n].off = off;
        e[n].lv = c.val;
        ++n;
        tc_pcsr_next(&c);
    }
    *(tc_pcsr_cursor *)state = c;
    return n;
}

#endif /* TC_CONV_SPARSE_INTERNAL_H */
