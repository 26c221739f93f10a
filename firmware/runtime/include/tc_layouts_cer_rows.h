/**
 * @file tc_layouts_cer_rows.h
 * @brief Template (included once per index-type pair): the CER / CSER row loop.
 *
 * Define before including:
 *   TC_ROWS_NAME   function name
 *   TC_WEIGHTS_T   tc_cer_weights or tc_cser_weights
 *   TC_COL_T       col_idx element type
 *   TC_PTR_T       omega_ptr element type
 *   TC_GROUP_VALUE(w, g, k)  the level of group g, the k-th group of its row
 *                  (CER: omega[k + 1]; CSER: omega[omega_idx[g]])
 * Per group: add up the x at its columns, multiply once by (value - omega[0]).
 * Rows then get omega[0] * (sum of the whole patch) when omega[0] != 0.
 */
static void TC_ROWS_NAME(const TC_WEIGHTS_T *w, const tc_quant_params *q, int32_t rows,
                         const tc_patch *patch, const int8_t *x, int32_t x_step, int8_t *out)
{
    const TC_COL_T *cols = (const TC_COL_T *)w->col_idx;
    const TC_PTR_T *optr = (const TC_PTR_T *)w->omega_ptr;
    const int32_t w0 = w->omega[0];
    /* FC/conv rows share one patch: sum it once; depthwise rows each have their own */
    const int32_t shared_sum = (w0 != 0 && x_step == 0) ? tc_patch_sum(x, patch) : 0;
    int32_t g = (int32_t)tc_index_at(w->row_ptr, w->row_ptr_type, 0);
    for (int32_t r = 0; r < rows; ++r) {
        const int32_t g_end = (int32_t)tc_index_at(w->row_ptr, w->row_ptr_type, r + 1);
        const int8_t *xr = x + r * x_step;
        int32_t acc = q->bias_f[r];
        if (w0 != 0) {
            acc += w0 * (x_step == 0 ? shared_sum : tc_patch_sum(xr, patch));
        }
        /* groups of a row are consecutive: each starts where the previous ended */
        const TC_COL_T *c = (g < g_end) ? cols + optr[g] : cols;
        for (int32_t k = 0; g < g_end; ++g, ++k) {
            const TC_COL_T *c_end = cols + optr[g + 1];
            int32_t s = 0;
            for (; c_end - c >= 4; c += 4) {
                s += xr[c[0]] + xr[c[1]] + xr[c[2]] + xr[c[3]];
            }
            for (; c < c_end; ++c) {
                s += xr[*c];
            }
            acc += (TC_GROUP_VALUE(w, g, k) - w0) * s;
            (void)k; /* CSER does not need the slot number */
        }
        out[r] = tc_out_s8(acc, q, r);
    }
}

#undef TC_ROWS_NAME
#undef TC_COL_T
#undef TC_PTR_T
