/**
 * @file tc_layouts_cer_rows.h
 * @brief Template (included once per index-type pair): the CER / CSER row loop.
 *
 * Define before including:
 *   TC_ROWS_NAME   function name
 *   TC_ROWS_BODY   name of its inlined body (any unused identifier)
 *   TC_WEIGHTS_T   tc_cer_weights or tc_cser_weights
 *   TC_COL_T       col_idx element type
 *   TC_PTR_T       omega_ptr element type
 *   TC_CSER        1 for CSER (group values through omega_idx), 0 for CER
 * Per group: add up the x at its columns, multiply once by its value. When
 * omega[0] != 0 a row then adds omega[0] * (patch sum - sum of x at its
 * stored columns), the same as multiplying each group by (value - omega[0]).
 *
 * Why the loop looks like this (Cortex-M4, GCC -O2; instructions are what
 * the sparse layouts are judged by): one running pointer `c` walks col_idx
 * across all groups and rows (groups are consecutive), a group's end is one
 * pre-incremented load of omega_ptr, and a CER row skips its empty groups in
 * a 3-instruction scan (the scan stops at the row's last entry, so it never
 * leaves the row). Groups are short at high sparsity (often one entry), so
 * the element loop has no unrolling and no set-up.
 */
TC_ALWAYS_INLINE static inline void TC_ROWS_BODY(const TC_WEIGHTS_T *w, const tc_quant_params *q,
                                                 int32_t rows, const tc_patch *patch,
                                                 const int8_t *x, int32_t x_step, int8_t *out,
                                                 const int any_w0)
{
    const TC_COL_T *const cols = (const TC_COL_T *)w->col_idx;
    const TC_PTR_T *const optr = (const TC_PTR_T *)w->omega_ptr;
    const int8_t *const omega = w->omega;
    const void *const row_ptr = w->row_ptr;
    const tc_index_type row_ptr_type = w->row_ptr_type;
#if TC_CSER
    const uint8_t *const omega_idx = w->omega_idx;
#endif
    const tc_out_params o = tc_out_params_of(q);
    const int32_t w0 = any_w0 ? omega[0] : 0; /* a constant 0 in the common copy */
    /* FC/conv rows share one patch: its sum is computed once */
    const int32_t shared_sum = (w0 != 0 && x_step == 0) ? tc_patch_sum(x, patch) : 0;
    const uint32_t g0 = tc_index_at(row_ptr, row_ptr_type, 0);
    const TC_PTR_T *op = optr + g0; /* *op: where the current group starts; runs on across rows */
#if TC_CSER
    const uint8_t *vi = omega_idx + g0;
#endif
    const TC_COL_T *c = cols + *op;
    for (int32_t r = 0; r < rows; ++r) {
        const TC_PTR_T *const op_end = optr + tc_index_at(row_ptr, row_ptr_type, r + 1);
        const int8_t *xr = x + r * x_step;
        const TC_COL_T *const row_start = c;
        const TC_COL_T *const row_end = cols + *op_end;
#if !TC_CSER
        const TC_PTR_T *const op_row = op; /* group k of the row holds omega[k + 1] */
#endif
        /* acc = bias + sum_g value_g * s_g; omega[0] is dealt with after the loop,
           which keeps it (and a register) out of the per-group work */
        int32_t acc = tc_bias(q, r);
        while (c < row_end) {
#if TC_CSER
            ++op; /* CSER has no empty groups */
            const int32_t v = omega[*vi++];
#else
            const uint32_t start = (uint32_t)(c - cols);
            do { /* skip empty groups: terminates, since optr[g_end] > start */
                ++op;
            } while (*op == start);
            const int32_t v = omega[op - op_row];
#endif
            const TC_COL_T *const ce = cols + *op;
            int32_t s = xr[*c++]; /* a group has >= 1 entry */
            while (c < ce) { /* groups are short at high sparsity: no unrolling, no set-up */
                s += xr[*c++];
            }
            c = ce; /* (already true; saves GCC recomputing c from the trip count) */
            acc += v * s;
        }
        if (any_w0) {
            /* sum_g (v_g - w0) s_g + w0 * patch_sum
               = sum_g v_g s_g + w0 * (patch_sum - sum of x at the row's stored columns) */
            int32_t stored = 0;
            for (const TC_COL_T *k = row_start; k < row_end; ++k) {
                stored += xr[*k];
            }
            acc += w0 * ((x_step == 0 ? shared_sum : tc_patch_sum(xr, patch)) - stored);
        }
        op = op_end; /* (CER: past trailing empty groups, if a row had any) */
        c = row_end;
        out[r] = tc_out_row(&o, acc, r);
    }
}

/* Two copies of the loop: omega[0] == 0 (pruned weights: no omega[0] term at all
   in the row loop) and the general one. */
static void TC_ROWS_NAME(const TC_WEIGHTS_T *w, const tc_quant_params *q, int32_t rows,
                         const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out)
{
    if (w->omega[0] == 0) {
        TC_ROWS_BODY(w, q, rows, patch, x, x_step, out, 0);
    } else {
        TC_ROWS_BODY(w, q, rows, patch, x, x_step, out, 1);
    }
}

#undef TC_ROWS_BODY
#undef TC_ROWS_NAME
#undef TC_COL_T
#undef TC_PTR_T
