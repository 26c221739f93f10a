/**
 * @file tc_conv2d_dense_s8.c
 * @brief tc_conv2d_dense_s8: a partial im2col of two output pixels, then the
 *        dense engine's blocked product (tc_fc_dense_s8.c).
 *
 * Output pixels go two at a time (a last odd one alone): each pixel's patch
 * (kernel_h runs of kernel_w * in_c inputs) is packed into the caller's
 * scratch as one column of the engine, the two columns interleaved, and the
 * engine multiplies every pair of output channels with both, so each weight
 * word loaded serves two pixels and each packed input two channels. A 1x1
 * convolution is the same product with one-run patches, read in place. When a
 * kernel row is not a whole number of the engine's groups, the runs are first
 * gathered into contiguous scratch, so that every group of the packed column
 * holds consecutive levels. The output channels' requantization constants are
 * worked out once per call, into scratch too (tc_dense_rq_init). A pixel whose
 * window reaches into the padding is gathered the same way, with pad_value
 * (the input zero point) in the taps outside the input: no padded copy of
 * the input is made.
 *
 * At 8 bits on a DSP core (the usual case: every layer whose requantization
 * has the short form) the kernel takes its own path, in assembly: six pixels
 * a pass for a 1x1 stride 1 kernel or a small patch (fast_rows6: each weight
 * word loaded once for six pixels, 21 instructions per 24 MACs, the whole row
 * loop including the output stage in one block), else two (fast_pair).
 */
#include <string.h>

#include "tc_conv2d.h"
#include "tc_conv_dense_internal.h"
#include "tc_dense_g8.h"
#include "tc_layouts_internal.h"
#include "tc_simd.h"

/* 0: no layer of the build takes the DSP path's six pixels a pass (render.py), whose code
   then stays out of the firmware; the scratch size does not depend on it. */
#ifndef TC_CONV_DENSE_SIX
#define TC_CONV_DENSE_SIX 1
#endif

/* GCC -O2 turns copy loops into memcpy calls, which cost more than a short
   run; keep the loops as loops. */
#if defined(__GNUC__) && !defined(__clang__)
#define TC_NO_MEMCPY_IDIOM __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TC_NO_MEMCPY_IDIOM
#endif

/* Packed columns in scratch: six at 8 bits without a post-op for a 1x1 stride 1 kernel
   or a patch of at most 64 levels (the DSP path takes six pixels a pass; four more columns
   of a large patch would cost more RAM than they save time), else two. A context smaller
   than that asks (tc_conv2d_dense_s8_buffer_size), down to the two columns' size
   (tc_conv2d_dense_s8_min_buffer_size: the planner gives that to a layer at the arena's
   peak), takes two. */
static TC_INLINE int32_t col_count(const tc_conv_dims *d, int32_t bits, int post)
{
    const int32_t k = d->kernel_h * d->kernel_w * d->in_c;
    const int pw = (d->kernel_h | d->kernel_w | d->stride_h | d->stride_w) == 1;
    return bits == 8 && !post && (pw || tc_dense_padded(k, 8) <= 64) ? 6 : 2;
}

/* Bytes to gather patches into: a patch's levels padded to whole groups, six times with
   six columns (the DSP path gathers six patches, then packs them at once); 0 when every
   kernel row is whole groups and no window reaches into the padding (the runs are packed
   in place). */
static int32_t gather_bytes(const tc_conv_dims *d, int32_t bits, int32_t ncols)
{
    const int32_t run = d->kernel_w * d->in_c;
    return run % tc_dense_group(bits) == 0 && !tc_conv_padded(d)
               ? 0 : (ncols == 6 ? 6 : 1) * tc_dense_padded(d->kernel_h * run, bits);
}

/* Bytes of the rows' area: the tail copy (tc_dense_tail_bytes), or for the DSP path
   (`fast`) with rows that are not whole groups or levels below 8 bits, the whole matrix as
   int8 rows padded to whole groups (unpacked once per call; the other paths hold the tail
   copy there). */
static TC_INLINE int32_t rows_bytes(const tc_conv_dims *d, int32_t bits, int fast)
{
    const int32_t k = d->kernel_h * d->kernel_w * d->in_c;
    return fast && (bits < 8 || k % 4 != 0) ? d->out_c * tc_dense_padded(k, 8)
                                            : tc_dense_tail_bytes(d->out_c, k, bits);
}

/* Bytes of a post-op's staged outputs (two pixels' sums, 4-aligned); 0 without one. */
static TC_INLINE int32_t sums_bytes(const tc_conv_dims *d, int post)
{
    return post ? (2 * d->out_c + 3) & ~(int32_t)3 : 0;
}

/* Bytes after the two columns: the gather area, and the post-op's sums in it when the
   patch's own bytes hold them (its group padding must stay zero), else after it. */
static TC_INLINE int32_t stage_bytes(const tc_conv_dims *d, int32_t bits, int post,
                                     int32_t ncols)
{
    const int32_t g = gather_bytes(d, bits, ncols), t = sums_bytes(d, post);
    return !post || (g > 0 && t <= d->kernel_h * d->kernel_w * d->in_c) ? g : g + t;
}

/* Scratch bytes with `ncols` packed columns (col_count's, or 2); `fast`: the DSP path's
   (8-bit columns and gather, rows_bytes' rows), else the general path's at `bits`. */
static TC_INLINE int32_t sized(const tc_conv_dims *dims, int32_t bits, int post, int32_t ncols,
                               int fast)
{
    if (!tc_conv_dims_ok(dims, 0) || bits < 1 || bits > 8) {
        return 0;
    }
    const int32_t cols = dims->kernel_h * dims->kernel_w * dims->in_c, lb = fast ? 8 : bits;
    return ncols * tc_dense_column_bytes(cols, lb) + stage_bytes(dims, lb, post, ncols) +
           rows_bytes(dims, bits, fast) + dims->out_c * (int32_t)sizeof(tc_dense_rq);
}

/* Enough for either path: the DSP path's with col_count's columns, and the general one's. */
static TC_INLINE int32_t buffer_size(const tc_conv_dims *dims, int32_t bits, int post)
{
    if (!tc_conv_dims_ok(dims, 0)) {
        return 0;
    }
    const int32_t fast = sized(dims, bits, post, col_count(dims, 8, post), 1);
    const int32_t general = sized(dims, bits, post, 2, 0);
    return fast > general ? fast : general;
}

int32_t tc_conv2d_dense_s8_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return buffer_size(dims, bits, 0);
}

int32_t tc_conv2d_dense_s8_min_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return sized(dims, bits, 0, 2, 0);
}

#if TC_CONV_DENSE_POST
int32_t tc_conv2d_dense_post_buffer_size(const tc_conv_dims *dims, int32_t bits)
{
    return buffer_size(dims, bits, 1);
}
#endif

static inline void copy_word(const int8_t *from, int8_t *to)
{
    uint32_t v;
    memcpy(&v, from, sizeof v); /* unaligned word access (LDR/STR on Cortex-M) */
    memcpy(to, &v, sizeof v);
}

/* Copy the kernel_h runs of one patch into buf, one after the other. A run of 4 or more
   is copied in words, its last word at its last 4 bytes (overlapping the one before):
   nothing is read or written past a run. */
TC_NO_MEMCPY_IDIOM static void gather(const int8_t *x, int32_t runs, int32_t run_len,
                                      int32_t run_stride, int8_t *buf)
{
    if (run_len < 4) {
        for (; runs > 0; --runs, x += run_stride, buf += run_len) {
            for (int32_t i = 0; i < run_len; ++i) {
                buf[i] = x[i];
            }
        }
        return;
    }
    const int32_t last = run_len - 4;
    for (; runs > 0; --runs, x += run_stride, buf += run_len) {
        for (int32_t i = 0; i < last; i += 4) {
            copy_word(x + i, buf + i);
        }
        copy_word(x + last, buf + last);
    }
}

static inline int32_t clip(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* The patch of a window at input (y0, x0) that reaches into the padding, into buf: the
   taps outside the input read pad_value. Per kernel row: pad_value before and after the
   columns inside, which are one contiguous span of the input row (copied in words). */
TC_NO_MEMCPY_IDIOM static void gather_padded(const tc_conv_dims *d, const int8_t *input,
                                             int32_t y0, int32_t x0, int8_t *buf)
{
    const int32_t c = d->in_c, run = d->kernel_w * c, kx0 = clip(-x0, 0, d->kernel_w);
    const int32_t lo = kx0 * c, hi = clip(d->in_w - x0, 0, d->kernel_w) * c, n = hi - lo;
    const int8_t z = (int8_t)d->pad_value;
    const uint32_t z4 = 0x01010101u * (uint8_t)z;
    for (int32_t y = y0; y < y0 + d->kernel_h; ++y, buf += run) {
        const int inside_row = y >= 0 && y < d->in_h && n > 0;
        if (run >= 4) { /* the row all pad_value, in words (the last one may overlap) */
            int32_t i = 0;
            for (; i + 4 <= run; i += 4) {
                memcpy(buf + i, &z4, sizeof z4);
            }
            if (i < run) {
                memcpy(buf + run - 4, &z4, sizeof z4);
            }
        } else {
            for (int32_t i = 0; i < run; ++i) {
                buf[i] = z;
            }
        }
        if (!inside_row) {
            continue;
        }
        const int8_t *from = input + (y * d->in_w + x0 + kx0) * c; /* column kx0 */
        int8_t *to = buf + lo;
        if (n >= 4) { /* the span inside, in words (the last one may overlap) */
            int32_t j = 0;
            for (; j + 4 <= n; j += 4) {
                copy_word(from + j, to + j);
            }
            if (j < n) {
                copy_word(from + n - 4, to + n - 4);
            }
        } else {
            for (int32_t j = 0; j < n; ++j) {
                to[j] = from[j];
            }
        }
    }
}

/* 1 when the window at input (y0, x0) lies inside the input. */
static inline int inside(const tc_conv_dims *d, int32_t y0, int32_t x0)
{
    return y0 >= 0 && x0 >= 0 && y0 + d->kernel_h <= d->in_h && x0 + d->kernel_w <= d->in_w;
}

#if defined(__ARM_FEATURE_DSP) && !defined(TC_DENSE_NO_DSP)
#define TC_CONV_FAST 1

/* n groups of 8-bit inputs at x as one column of ncols (col: its first slot), as
   tc_dense_pack_s8 packs them: per group (levels 0, 2) of every column, then (1, 3), a
   word each. */
static void pack1_s8(const int8_t *x, int32_t n, uint32_t *col, int32_t ncols)
{
    const int32_t s = 4 * ncols; /* bytes from a column's (0, 2) word to its (1, 3) word */
    uint32_t v, t0, t1;
    __asm__ volatile("1:\n\t"
                     "ldr    %[v], [%[x]], #4\n\t"
                     "sxtb16 %[t0], %[v]\n\t"
                     "sxtb16 %[t1], %[v], ror #8\n\t"
                     "str    %[t1], [%[c], %[s]]\n\t"
                     "str    %[t0], [%[c]]\n\t"
                     "add    %[c], %[c], %[s], lsl #1\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [x] "+r"(x), [n] "+r"(n), [c] "+r"(col), [v] "=&r"(v), [t0] "=&r"(t0),
                       [t1] "=&r"(t1)
                     : [s] "r"(s)
                     : "cc", "memory");
}
#endif

/* n inputs at x as column `which` of ncols (tc_dense_pack_s8); `fast` (8 bits, n whole
   groups): by pack1_s8 on a DSP core. */
static inline uint32_t pack_run(int fast, int32_t bits, const int8_t *x, int32_t n, uint8_t *cols,
                                int32_t ncols, int32_t which)
{
#ifdef TC_CONV_FAST
    if (fast) {
        pack1_s8(x, n / 4, (uint32_t *)cols + which, ncols);
        return 0;
    }
#else
    (void)fast;
#endif
    return tc_dense_pack_s8(bits, x, n, cols, ncols, which);
}

/* Pack the patch of output pixel p as column `which` of ncols; returns its correction. */
static uint32_t pack_patch(const tc_conv_dims *d, int32_t bits, const int8_t *input, int32_t p,
                           uint8_t *cols, int32_t ncols, int32_t which, int8_t *stage, int fast)
{
    if ((d->kernel_h | d->kernel_w | d->stride_h | d->stride_w) == 1 &&
        (!fast || d->in_c % 4 == 0)) {
        /* 1x1, stride 1 (never padded): pixel p's patch is its in_c inputs, one run, packed
           in place (the last group zero-padded by tc_dense_pack_s8) */
        return pack_run(fast, bits, input + p * d->in_c, d->in_c, cols, ncols, which);
    }
    const int32_t oy = p / d->out_w, ox = p - oy * d->out_w;
    const int32_t run = d->kernel_w * d->in_c, row_stride = d->in_w * d->in_c;
    const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
    if (!inside(d, y0, x0)) { /* stage exists: the conv is padded */
        gather_padded(d, input, y0, x0, stage);
        return pack_run(fast, bits, stage, tc_dense_padded(d->kernel_h * run, bits), cols,
                        ncols, which);
    }
    const int8_t *x = input + (y0 * d->in_w + x0) * d->in_c;
    if (stage != NULL && run % tc_dense_group(bits) != 0) { /* the group padding stays zero */
        gather(x, d->kernel_h, run, row_stride, stage);
        return pack_run(fast, bits, stage, tc_dense_padded(d->kernel_h * run, bits), cols,
                        ncols, which);
    }
    uint32_t corr = 0;
    for (int32_t r = 0; r < d->kernel_h; ++r) { /* every run a whole number of groups */
        corr += pack_run(fast, bits, x + r * row_stride, run, cols + 2 * r * run * ncols, ncols,
                         which);
    }
    return corr;
}

#ifdef TC_CONV_FAST
/* ---------------------------------------------------------------- 8 bits on a DSP core
 * At 8 bits, when every output channel's requantization is the short form (all real
 * layers), the pixels take a tighter path than tc_dense_gemm2_s8: the channels' constants
 * are rewritten once per call as one 16-byte entry each (tc_conv_rq), the rows are read
 * back to back (copied padded to whole groups when they are not: fast_pixels), and the
 * columns are packed by assembly loops in tc_dense_pack_s8's layout at 8 bits (the pair
 * words of each group, column by column). Six pixels a pass when the activation's range
 * is int8 (fast_rows6, SSAT the clamp), else two (fast_pair: the product, then SMMLA, ASR,
 * SSAT and the four bytes clamped at once, two halfword stores). */

/* One output channel's constants, from a tc_dense_rq entry of the short form. */
typedef struct {
    int32_t bias, m;
    uint32_t c;
    int32_t sh;
} tc_conv_rq;

/* 1 when every row of rq (out_c of them) has the short form; then rq's bytes are
   rewritten as out_c tc_conv_rq entries (16 bytes a row in place of 20: entry r ends
   before row r + 1 starts, so each row is read before its bytes are written). */
static int short_table(tc_dense_rq *rq, int32_t out_c)
{
    for (int32_t r = 0; r < out_c; ++r) {
        if ((uint32_t)(rq[r].sh - 1) >= 22u) {
            return 0;
        }
    }
    for (int32_t r = 0; r < out_c; ++r) {
        const tc_dense_rq a = rq[r];
        const tc_conv_rq e = {a.bias, a.m, a.c_lo, a.sh};
        memcpy((uint8_t *)rq + r * (int32_t)sizeof e, &e, sizeof e);
    }
    return 1;
}

/* Rows a and b (wa, wb) against the two columns at cols (n >= 1 groups), requantized by
   entries e[0], e[1], into out[0..1] (column 0) and out[oc..oc + 1] (column 1). The groups go four
   an iteration after one (n odd) and two (bit 1 of n) first: LSLS #31 puts bit 0 in N and
   bit 1 in C, which the product does not touch. lo, hi: the activation's range in each
   byte. */
static TC_INLINE void fast_pair(const tc_conv_rq *e, const uint8_t *wa, const uint8_t *wb,
                                const uint32_t *cols, int32_t n, uint32_t lo, uint32_t hi,
                                int8_t *out, int32_t oc)
{
    uint32_t a0 = (uint32_t)e[0].bias, b0 = (uint32_t)e[1].bias, a1 = a0, b1 = b0;
    uint32_t va, vb, x0, x1, t;
    const uint32_t *x = cols;
    __asm__ volatile("lsls   %[t], %[n], #31\n\t"
                     "bpl    2f\n\t" TC_G8_2X2
                     "2:\n\t"
                     "bcc    3f\n\t" TC_G8_2X2 TC_G8_2X2
                     "3:\n\t"
                     "lsrs   %[n], %[n], #2\n\t"
                     "beq    4f\n\t"
                     "1:\n\t" TC_G8_2X2 TC_G8_2X2 TC_G8_2X2 TC_G8_2X2
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     "4:\n\t"
                     : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [a] "+r"(wa),
                       [b] "+r"(wb), [x] "+r"(x), [n] "+r"(n), [va] "=&r"(va), [vb] "=&r"(vb),
                       [x0] "=&r"(x0), [x1] "=&r"(x1), [t] "=&r"(t)
                     :
                     : "cc", "memory");
    uint32_t m, c, s;
    __asm__ volatile("ldrd   %[m], %[c], [%[e], #4]\n\t"
                     "ldr    %[s], [%[e], #12]\n\t"
                     "smmla  %[a0], %[a0], %[m], %[c]\n\t"
                     "smmla  %[a1], %[a1], %[m], %[c]\n\t"
                     "asr    %[a0], %[a0], %[s]\n\t"
                     "asr    %[a1], %[a1], %[s]\n\t"
                     "ldrd   %[m], %[c], [%[e], #20]\n\t"
                     "ldr    %[s], [%[e], #28]\n\t"
                     "smmla  %[b0], %[b0], %[m], %[c]\n\t"
                     "smmla  %[b1], %[b1], %[m], %[c]\n\t"
                     "asr    %[b0], %[b0], %[s]\n\t"
                     "asr    %[b1], %[b1], %[s]\n\t"
                     "ssat   %[a0], #8, %[a0]\n\t"
                     "ssat   %[b0], #8, %[b0]\n\t"
                     "ssat   %[a1], #8, %[a1]\n\t"
                     "ssat   %[b1], #8, %[b1]\n\t"
                     "bfi    %[a0], %[b0], #8, #8\n\t"
                     "bfi    %[a0], %[a1], #16, #8\n\t"
                     "bfi    %[a0], %[b1], #24, #8\n\t"
                     "ssub8  %[m], %[a0], %[lo]\n\t"
                     "sel    %[a0], %[a0], %[lo]\n\t"
                     "ssub8  %[m], %[hi], %[a0]\n\t"
                     "sel    %[a0], %[a0], %[hi]\n\t"
                     "lsr    %[m], %[a0], #16\n\t"
                     "strh   %[m], [%[o], %[oc]]\n\t"
                     "strh   %[a0], [%[o]]\n\t"
                     : [a0] "+&r"(a0), [a1] "+&r"(a1), [b0] "+&r"(b0), [b1] "+&r"(b1),
                       [m] "=&r"(m), [c] "=&r"(c), [s] "=&r"(s)
                     : [e] "r"(e), [lo] "r"(lo), [hi] "r"(hi), [o] "r"(out), [oc] "r"(oc)
                     : "cc", "memory");
}

/* Groups levels of column 0 from x0 and of column 1 from x1 into cols, interleaved as
   tc_dense_pack_s8 packs them at 8 bits: (x0 levels 0, 2), (x1 0, 2), (x0 1, 3), (x1 1, 3)
   per group. */
static TC_INLINE void pack2_s8(const int8_t *x0, const int8_t *x1, int32_t n, uint32_t *cols)
{
    uint32_t v0, v1, t0, t1;
    __asm__ volatile("1:\n\t"
                     "ldr    %[v0], [%[x0]], #4\n\t"
                     "ldr    %[v1], [%[x1]], #4\n\t"
                     "sxtb16 %[t0], %[v0]\n\t"
                     "sxtb16 %[t1], %[v1]\n\t"
                     "strd   %[t0], %[t1], [%[c]], #8\n\t"
                     "sxtb16 %[t0], %[v0], ror #8\n\t"
                     "sxtb16 %[t1], %[v1], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[c]], #8\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [x0] "+r"(x0), [x1] "+r"(x1), [n] "+r"(n), [c] "+r"(cols), [v0] "=&r"(v0),
                       [v1] "=&r"(v1), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     :
                     : "cc", "memory");
}

/* One group of four levels of a row against six columns (two pair words each: levels
   (0, 2) of the six, then (1, 3)); FIRST: the sums start at the bias in a5. */
#define TC_ROW6_G(A0, A1, A2, A3, A4, A5)                                                     \
    "ldr    %[v], [%[w]], #4\n\t"                                                           \
    "sxtb16 %[t], %[v]\n\t"                                                                 \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a0], %[t], %[x0], " A0 "\n\t"                                                 \
    "smlad  %[a1], %[t], %[x1], " A1 "\n\t"                                                 \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a2], %[t], %[x0], " A2 "\n\t"                                                 \
    "smlad  %[a3], %[t], %[x1], " A3 "\n\t"                                                 \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a4], %[t], %[x0], " A4 "\n\t"                                                 \
    "smlad  %[a5], %[t], %[x1], " A5 "\n\t"                                                 \
    "sxtb16 %[t], %[v], ror #8\n\t"                                                         \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a0], %[t], %[x0], %[a0]\n\t"                                                  \
    "smlad  %[a1], %[t], %[x1], %[a1]\n\t"                                                  \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a2], %[t], %[x0], %[a2]\n\t"                                                  \
    "smlad  %[a3], %[t], %[x1], %[a3]\n\t"                                                  \
    "ldrd   %[x0], %[x1], [%[x]], #8\n\t"                                                   \
    "smlad  %[a4], %[t], %[x0], %[a4]\n\t"                                                  \
    "smlad  %[a5], %[t], %[x1], %[a5]\n\t"
#define TC_ROW6_FIRST TC_ROW6_G("%[a5]", "%[a5]", "%[a5]", "%[a5]", "%[a5]", "%[a5]")
#define TC_ROW6 TC_ROW6_G("%[a0]", "%[a1]", "%[a2]", "%[a3]", "%[a4]", "%[a5]")

/* Every row of a convolution (w: row 0, rows of whole groups back to back; e: their
   constants) against six packed columns (cols, n groups): the outputs of six pixels,
   out[0 .. out_c) and the next five pixels' after it. One row at a time: its product
   (the first group on its own, starting the sums at the bias; of the rest, one if odd,
   two if bit 1 is set, then four an iteration), its six outputs by SMMLA, ASR and SSAT,
   six byte stores. The activation's range must be the int8 one (SSAT is the clamp). */
static TC_INLINE void fast_rows6(const tc_conv_rq *e, const uint8_t *w, const uint32_t *cols,
                                 int32_t n, int8_t *out, int32_t out_c)
{
    /* read in the loop from the stack: 14 registers hold the rest */
    struct {
        const uint32_t *cols;
        int32_t rest, oc;
        const int8_t *end;
        int8_t *out;
    } k = {cols, n - 1, out_c, out + out_c, out};
    uint32_t a0, a1, a2, a3, a4, a5, v, t, x0, x1, i;
    const uint32_t *x;
    __asm__ volatile("1:\n\t"
                     "ldr    %[a5], [%[e]], #16\n\t"
                     "ldr    %[x], %[cols]\n\t" TC_ROW6_FIRST
                     "ldr    %[i], %[rest]\n\t"
                     "lsrs   %[i], %[i], #1\n\t"
                     "bcc    2f\n\t" TC_ROW6
                     "2:\n\t"
                     "lsrs   %[i], %[i], #1\n\t"
                     "bcc    3f\n\t" TC_ROW6 TC_ROW6
                     "3:\n\t"
                     "beq    4f\n\t"
                     "5:\n\t" TC_ROW6 TC_ROW6 TC_ROW6 TC_ROW6
                     "subs   %[i], %[i], #1\n\t"
                     "bne    5b\n\t"
                     "4:\n\t"
                     "ldrd   %[v], %[t], [%[e], #-12]\n\t"
                     "ldr    %[x0], [%[e], #-4]\n\t"
                     "smmla  %[a0], %[a0], %[v], %[t]\n\t"
                     "smmla  %[a1], %[a1], %[v], %[t]\n\t"
                     "smmla  %[a2], %[a2], %[v], %[t]\n\t"
                     "smmla  %[a3], %[a3], %[v], %[t]\n\t"
                     "smmla  %[a4], %[a4], %[v], %[t]\n\t"
                     "smmla  %[a5], %[a5], %[v], %[t]\n\t"
                     "asr    %[a0], %[a0], %[x0]\n\t"
                     "asr    %[a1], %[a1], %[x0]\n\t"
                     "asr    %[a2], %[a2], %[x0]\n\t"
                     "asr    %[a3], %[a3], %[x0]\n\t"
                     "asr    %[a4], %[a4], %[x0]\n\t"
                     "asr    %[a5], %[a5], %[x0]\n\t"
                     "ssat   %[a0], #8, %[a0]\n\t"
                     "ssat   %[a1], #8, %[a1]\n\t"
                     "ssat   %[a2], #8, %[a2]\n\t"
                     "ssat   %[a3], #8, %[a3]\n\t"
                     "ssat   %[a4], #8, %[a4]\n\t"
                     "ssat   %[a5], #8, %[a5]\n\t"
                     "ldr    %[x1], %[oc]\n\t"
                     "ldr    %[i], %[o]\n\t"
                     "add    %[x], %[i], %[x1]\n\t"
                     "strb   %[a2], [%[i], %[x1], lsl #1]\n\t"
                     "strb   %[a3], [%[x], %[x1], lsl #1]\n\t"
                     "strb   %[a4], [%[i], %[x1], lsl #2]\n\t"
                     "strb   %[a5], [%[x], %[x1], lsl #2]\n\t"
                     "strb   %[a1], [%[x]]\n\t"
                     "strb   %[a0], [%[i]], #1\n\t"
                     "str    %[i], %[o]\n\t"
                     "ldr    %[x1], %[end]\n\t"
                     "cmp    %[i], %[x1]\n\t"
                     "bne    1b\n\t"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [a4] "=&r"(a4), [a5] "=&r"(a5), [v] "=&r"(v), [t] "=&r"(t),
                       [x0] "=&r"(x0), [x1] "=&r"(x1), [i] "=&r"(i), [x] "=&r"(x),
                       [e] "+r"(e), [w] "+r"(w), [o] "+m"(k.out)
                     : [cols] "m"(k.cols), [rest] "m"(k.rest), [oc] "m"(k.oc), [end] "m"(k.end)
                     : "cc", "memory");
}
#undef TC_ROW6_G
#undef TC_ROW6_FIRST
#undef TC_ROW6

/* The n groups of six pixels' inputs (x: the first pixel's, the others in_c bytes apart)
   into six columns: per group (levels 0, 2) of each pixel, then (1, 3). */
static TC_INLINE void pack6_s8(const int8_t *x, int32_t in_c, int32_t n, uint32_t *cols)
{
    const int8_t *x3 = x + 3 * in_c;
    uint32_t v0, v1, v2, v3, v4, v5, t0, t1;
    __asm__ volatile("1:\n\t"
                     "ldr    %[v1], [%[x], %[c]]\n\t"
                     "ldr    %[v2], [%[x], %[c], lsl #1]\n\t"
                     "ldr    %[v4], [%[x], %[c], lsl #2]\n\t"
                     "ldr    %[v5], [%[x3], %[c], lsl #1]\n\t"
                     "ldr    %[v3], [%[x3]], #4\n\t"
                     "ldr    %[v0], [%[x]], #4\n\t"
                     "sxtb16 %[t0], %[v0]\n\t"
                     "sxtb16 %[t1], %[v1]\n\t"
                     "strd   %[t0], %[t1], [%[col]], #48\n\t"
                     "sxtb16 %[t0], %[v2]\n\t"
                     "sxtb16 %[t1], %[v3]\n\t"
                     "strd   %[t0], %[t1], [%[col], #-40]\n\t"
                     "sxtb16 %[t0], %[v4]\n\t"
                     "sxtb16 %[t1], %[v5]\n\t"
                     "strd   %[t0], %[t1], [%[col], #-32]\n\t"
                     "sxtb16 %[t0], %[v0], ror #8\n\t"
                     "sxtb16 %[t1], %[v1], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[col], #-24]\n\t"
                     "sxtb16 %[t0], %[v2], ror #8\n\t"
                     "sxtb16 %[t1], %[v3], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[col], #-16]\n\t"
                     "sxtb16 %[t0], %[v4], ror #8\n\t"
                     "sxtb16 %[t1], %[v5], ror #8\n\t"
                     "strd   %[t0], %[t1], [%[col], #-8]\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [x] "+r"(x), [x3] "+r"(x3), [n] "+r"(n), [col] "+r"(cols), [v0] "=&r"(v0),
                       [v1] "=&r"(v1), [v2] "=&r"(v2), [v3] "=&r"(v3), [v4] "=&r"(v4),
                       [v5] "=&r"(v5), [t0] "=&r"(t0), [t1] "=&r"(t1)
                     : [c] "r"(in_c)
                     : "cc", "memory");
}

/* The activation's range in the four bytes of a word. */
static inline uint32_t range4(int32_t v)
{
    return ((uint32_t)v & 0xffu) * 0x01010101u;
}
#endif

#ifdef TC_CONV_FAST
/* gather for runs of 4 to 12 bytes: three words a run, at 0, min(4, run - 4) and
   run - 4, so nothing is read or written past it. */
static void gather_short(const int8_t *x, int32_t runs, int32_t run, int32_t stride,
                         int8_t *buf)
{
    const int32_t last = run - 4, mid = last < 4 ? last : 4;
    uint32_t t;
    __asm__ volatile("1:\n\t"
                     "ldr    %[t], [%[x]]\n\t"
                     "str    %[t], [%[b]]\n\t"
                     "ldr    %[t], [%[x], %[mid]]\n\t"
                     "str    %[t], [%[b], %[mid]]\n\t"
                     "ldr    %[t], [%[x], %[last]]\n\t"
                     "str    %[t], [%[b], %[last]]\n\t"
                     "add    %[x], %[x], %[s]\n\t"
                     "add    %[b], %[b], %[run]\n\t"
                     "subs   %[n], %[n], #1\n\t"
                     "bne    1b\n\t"
                     : [x] "+r"(x), [b] "+r"(buf), [n] "+r"(runs), [t] "=&r"(t)
                     : [mid] "r"(mid), [last] "r"(last), [s] "r"(stride), [run] "r"(run)
                     : "cc", "memory");
}

/* The patch of output pixel p, a window inside the input whose kernel rows are whole
   groups, as column `which` of six (pack_patch's last case). */
static TC_INLINE void fast_patch(const tc_conv_dims *d, const int8_t *input, int32_t p,
                                 uint8_t *cols, int32_t which)
{
    const int32_t run = d->kernel_w * d->in_c, row_stride = d->in_w * d->in_c;
    const int32_t oy = p / d->out_w, ox = p - oy * d->out_w;
    const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
    const int8_t *x = input + (y0 * d->in_w + x0) * d->in_c;
    for (int32_t r = 0; r < d->kernel_h; ++r) {
        pack1_s8(x + r * row_stride, run / 4, (uint32_t *)cols + which + 3 * r * run, 6);
    }
}

/* The patch of output pixel p into buf (its padding already zero): gather_padded for a
   window reaching into the padding, else its runs copied (gather_short for runs of 4 to
   12 bytes). */
static TC_INLINE void fast_stage(const tc_conv_dims *d, const int8_t *input, int32_t p,
                                 int8_t *buf)
{
    const int32_t run = d->kernel_w * d->in_c, row_stride = d->in_w * d->in_c;
    const int32_t oy = p / d->out_w, ox = p - oy * d->out_w;
    const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
    const int8_t *x = input + (y0 * d->in_w + x0) * d->in_c;
    if (!inside(d, y0, x0)) {
        gather_padded(d, input, y0, x0, buf);
    } else if (run >= 4 && run <= 12) {
        gather_short(x, d->kernel_h, run, row_stride, buf);
    } else {
        gather(x, d->kernel_h, run, row_stride, buf);
    }
}

/* The levels of `w` (tc_dense_weights: 8-bit, or bits-wide two's complement fields LSB
   first, each row from a byte boundary) as int8 rows of tc_dense_padded(k, 8) bytes, the
   padding zero. A row whose rq is the short form on acc * 2^p (sh = 32 + p, p <= 8 - bits:
   tc_dense_rq_init) gets its levels and bias times 2^p and sh = 1: the same accumulator
   times 2^p, exactly. */
static void unpack_rows(const tc_dense_weights *w, int32_t out_c, int32_t k, tc_dense_rq *rq,
                        int8_t *rows)
{
    const int32_t bits = w->bits, rb = tc_dense_padded(k, 8), row_bytes = (k * bits + 7) / 8;
    const uint32_t mask = (1u << bits) - 1u, sign = 1u << (bits - 1);
    const uint8_t *src = (const uint8_t *)w->weights;
    for (int32_t r = 0; r < out_c; ++r, src += row_bytes, rows += rb) {
        const int32_t p = rq[r].sh > 32 ? rq[r].sh - 32 : 0;
        if (p > 0) {
            rq[r].bias *= (int32_t)1 << p;
            rq[r].sh = 1;
        }
        int32_t i = 0;
        for (; i < k; ++i) {
            const uint32_t at = (uint32_t)(i * bits) >> 3, sh = (uint32_t)(i * bits) & 7u;
            uint32_t v = src[at];
            if (sh + (uint32_t)bits > 8u) {
                v |= (uint32_t)src[at + 1] << 8;
            }
            v = (v >> sh) & mask;
            rows[i] = (int8_t)(((int32_t)(v ^ sign) - (int32_t)sign) * ((int32_t)1 << p));
        }
        for (; i < rb; ++i) {
            rows[i] = 0;
        }
    }
}

/* The pixels of an 8-bit convolution whose channels' constants are the short-form table
   `tab` (short_table): six at a time into the int8 range without a post-op, else two at a
   time, then a last odd one by tc_dense_gemm1_s8. Rows that are not whole groups are first
   copied into `rows` padded to whole groups (rows_bytes), so that the product reads rows
   back to back with no tail. */
static void fast_pixels(const tc_conv_dims *d, const tc_quant_params *q, const tc_dense_mat *m,
                        const tc_conv_rq *tab, const int8_t *input, int8_t *output,
                        uint8_t *cols, int8_t *stage, const tc_conv_post *post, int8_t *sums,
                        int six)
{
    const int32_t out_c = d->out_c, k = m->cols, n = tc_dense_padded(k, 8) / 4, rb = 4 * n;
    const int32_t pixels = d->out_h * d->out_w;
    const tc_dense_mat f = *m; /* the matrix as read here */
    const uint32_t lo = range4(q->act_min), hi = range4(q->act_max);
    /* 1x1, stride 1, whole groups: a pixel's patch is its in_c inputs, the next pixel's
       right after them */
    const int pw = (d->kernel_h | d->kernel_w | d->stride_h | d->stride_w) == 1 &&
                   d->in_c % 4 == 0;
    int32_t p = 0;
    if (TC_CONV_DENSE_SIX && six && q->act_min == -128 &&
        q->act_max == 127) {
        for (; p + 6 <= pixels; p += 6) { /* six pixels a pass */
            if (pw) {
                pack6_s8(input + p * d->in_c, d->in_c, n, (uint32_t *)cols);
            } else if (stage != NULL) { /* six patches gathered (gather_bytes), then packed */
                for (int32_t j = 0; j < 6; ++j) {
                    fast_stage(d, input, p + j, stage + j * rb);
                }
                pack6_s8(stage, rb, n, (uint32_t *)cols);
            } else {
                for (int32_t j = 0; j < 6; ++j) {
                    fast_patch(d, input, p + j, cols, j);
                }
            }
            fast_rows6(tab, f.w, (const uint32_t *)cols, n, output + p * out_c, out_c);
        }
    }
    for (; p + 2 <= pixels; p += 2) {
        if (pw) {
            const int8_t *x = input + p * d->in_c;
            pack2_s8(x, x + d->in_c, n, (uint32_t *)cols);
        } else {
            (void)pack_patch(d, 8, input, p, cols, 2, 0, stage, 1);
            (void)pack_patch(d, 8, input, p + 1, cols, 2, 1, stage, 1);
        }
        int8_t *out = post != NULL ? sums : output + p * out_c;
        const uint8_t *w = f.w;
        for (int32_t i = 0; i < out_c; i += 2, w += 2 * rb) {
            fast_pair(tab + i, w, w + rb, (const uint32_t *)cols, n, lo, hi, out + i, out_c);
        }
        if (post != NULL) {
            post->store(post, sums, p * out_c, 2 * out_c);
        }
    }
    if (p < pixels) {
        const uint32_t c0 = pack_patch(d, 8, input, p, cols, 1, 0, stage, 0);
        tc_dense_gemm1_s8(&f, q, cols, c0, post != NULL ? sums : output + p * out_c);
        if (post != NULL) {
            post->store(post, sums, p * out_c, out_c);
        }
    }
}
#endif

/* Rows too long for the blocked product: the row engine at every output pixel, on the
   input in place or, for a window reaching into the padding, on its gathered patch. With
   a post-op, each pixel's sums go to `sums` first. */
static TC_INLINE void rows_each_pixel(const tc_conv_dims *d, const tc_quant_params *q,
                                      const tc_dense_weights *w, const int8_t *input,
                                      int8_t *output, int8_t *stage, const tc_conv_post *post,
                                      int8_t *sums)
{
    const int32_t k = d->kernel_h * d->kernel_w * d->in_c;
    const tc_patch window = {d->kernel_h, d->kernel_w * d->in_c, 1, d->in_w * d->in_c};
    const tc_patch gathered = {1, k, 1, 0};
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            const int32_t y0 = oy * d->stride_h - d->pad_top, x0 = ox * d->stride_w - d->pad_left;
            const int32_t at = (oy * d->out_w + ox) * d->out_c;
            int8_t *out = post != NULL ? sums : output + at;
            if (inside(d, y0, x0)) {
                tc_rows_dense_s8(w, q, d->out_c, &window, input + (y0 * d->in_w + x0) * d->in_c,
                                 0, out);
            } else {
                gather_padded(d, input, y0, x0, stage);
                tc_rows_dense_s8(w, q, d->out_c, &gathered, stage, 0, out);
            }
            if (post != NULL) {
                post->store(post, sums, at, d->out_c);
            }
        }
    }
}

/* The kernel; `post` (a constant NULL in tc_conv2d_dense_s8) hands every pair of output
   pixels to a post-op instead of storing them. */
static TC_INLINE tc_status conv_dense(const tc_context *ctx, const tc_conv_dims *dims,
                                      const tc_quant_params *quant, const tc_dense_weights *weights,
                                      const int8_t *input, int8_t *output, const tc_conv_post *post)
{
    if (!tc_dense_ok(weights) || !tc_conv_dims_ok(dims, 0) || !tc_quant_ok(quant) ||
        input == NULL || (output == NULL && post == NULL) ||
        !tc_context_ok(ctx, sized(dims, weights->bits, post != NULL, 2, 0))) {
        return TC_ERR_ARG;
    }
    /* scratch: the requantization table, the columns, the gather area (and a post-op's
       sums), the rows. The DSP path (when the context holds its part): 8-bit columns
       (col_count's when they fit, else two), the rows as int8 padded to whole groups
       (sub-byte levels unpacked once per call); else the general path at `bits`, two
       columns and the tail copy. */
    const int32_t bits = weights->bits, k = dims->kernel_h * dims->kernel_w * dims->in_c;
    const int32_t pixels = dims->out_h * dims->out_w, out_c = dims->out_c;
    const int has_post = post != NULL;
    tc_dense_rq *rq = (tc_dense_rq *)ctx->buf;
    uint8_t *cols = (uint8_t *)(rq + out_c);
    int fast = 0;
#ifdef TC_CONV_FAST
    tc_dense_mat v = {NULL, NULL, out_c, k, bits, tc_dense_padded(k, 8), out_c}; /* int8 rows */
    if ((bits == 8 ? TC_HAS_VARIANT(TC_DENSE_BITS, 7) : 1) && (out_c & 1) == 0 &&
        tc_dense_exact(k, 8) && ctx->size >= sized(dims, bits, has_post, 2, 1)) {
        tc_dense_rq_init(rq, quant, &v); /* (bits: the accumulator's bound) */
        fast = 1;
        for (int32_t r = 0; r < out_c; ++r) { /* the short form, or on acc * 2^p below 8 bits
                                                 with levels * 2^p still int8 (unpack_rows) */
            fast &= (uint32_t)(rq[r].sh - 1) < 22u ||
                    (bits < 8 && rq[r].sh > 32 && rq[r].sh - 32 <= 8 - bits);
        }
    }
#endif
    const int32_t lb = fast ? 8 : bits; /* the columns' and gather area's width */
    const int32_t want = fast ? col_count(dims, 8, has_post) : 2;
    const int32_t ncols = ctx->size >= sized(dims, bits, has_post, want, fast) ? want : 2;
    uint8_t *after = cols + ncols * tc_dense_column_bytes(k, lb);
    const int32_t g = gather_bytes(dims, lb, ncols);
    int8_t *stage = g > 0 ? (int8_t *)after : NULL;
    uint8_t *rows = after + stage_bytes(dims, lb, has_post, ncols);
    int8_t *sums = NULL;
    if (post != NULL) { /* in the gather area, else after it (stage_bytes) */
        sums = (int8_t *)after + (stage_bytes(dims, lb, 1, ncols) == g ? 0 : g);
    }
    for (int32_t j = 0; j < g; j += tc_dense_padded(k, lb)) { /* each patch's padding */
        for (int32_t i = k; i < tc_dense_padded(k, lb); ++i) {
            stage[j + i] = 0; /* gather never writes past the patch */
        }
    }
#ifdef TC_CONV_FAST
    if (fast) {
        v.bits = 8;
        if (bits == 8 && k % 4 == 0) { /* the weights as they are */
            v.w = (const uint8_t *)weights->weights;
            v.row_bytes = k;
        } else { /* a row on acc * 2^p: its levels and bias times 2^p, then sh = 1 */
            unpack_rows(weights, out_c, k, rq, (int8_t *)rows);
            v.w = rows;
        }
        (void)short_table(rq, out_c); /* every row short now */
        fast_pixels(dims, quant, &v, (const tc_conv_rq *)rq, input, output, cols, stage, post,
                    sums, ncols == 6);
        return TC_OK;
    }
#endif
    uint8_t *tail = tc_dense_tail_bytes(out_c, k, bits) > 0 ? rows : NULL;
    if (!tc_dense_exact(k, bits)) {
        if (post != NULL && out_c > 2 * tc_dense_column_bytes(k, bits)) {
            return TC_ERR_ARG; /* the columns' bytes stage a pixel's sums there */
        }
        rows_each_pixel(dims, quant, weights, input, output, stage, post, (int8_t *)cols);
        return TC_OK;
    }
    tc_dense_mat m;
    tc_dense_mat_init(&m, weights, out_c, k, tail);
    tc_dense_rq_init(rq, quant, &m);
    int32_t p = 0;
    for (; p + 2 <= pixels; p += 2) {
        const uint32_t c0 = pack_patch(dims, bits, input, p, cols, 2, 0, stage, 0);
        const uint32_t c1 = pack_patch(dims, bits, input, p + 1, cols, 2, 1, stage, 0);
        int8_t *out = post != NULL ? sums : output + p * out_c;
        tc_dense_gemm2_s8(&m, quant, rq, cols, c0, c1, out, out + out_c);
        if (post != NULL) {
            post->store(post, sums, p * out_c, 2 * out_c);
        }
    }
    if (p < pixels) {
        const uint32_t c0 = pack_patch(dims, bits, input, p, cols, 1, 0, stage, 0);
        tc_dense_gemm1_s8(&m, quant, cols, c0, post != NULL ? sums : output + p * out_c);
        if (post != NULL) {
            post->store(post, sums, p * out_c, out_c);
        }
    }
    return TC_OK;
}

tc_status tc_conv2d_dense_s8(const tc_context *ctx, const tc_conv_dims *dims,
                             const tc_quant_params *quant, const tc_dense_weights *weights,
                             const int8_t *input, int8_t *output)
{
    return conv_dense(ctx, dims, quant, weights, input, output, NULL);
}

#if TC_CONV_DENSE_POST
tc_status tc_conv2d_dense_post_s8(const tc_context *ctx, const tc_conv_dims *dims,
                                  const tc_quant_params *quant, const tc_dense_weights *weights,
                                  const int8_t *input, const tc_conv_post *post)
{
    return post == NULL ? TC_ERR_ARG
                        : conv_dense(ctx, dims, quant, weights, input, NULL, post);
}
#endif
