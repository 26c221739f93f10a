/**
 * @file tc_layouts_csr_rows.h
 * @brief Template (included once per index type): the CSR row loop.
 *
 * Before including, define TC_ROWS_NAME (function name) and TC_COL_T (col_idx
 * element type). row_ptr is read once per row through tc_index_at.
 */
static void TC_ROWS_NAME(const tc_csr_weights *w, const tc_quant_params *q, int32_t rows,
                         const int8_t *x, int32_t x_step, int8_t *out)
{
    const TC_COL_T *cols = (const TC_COL_T *)w->col_idx;
    const int8_t *vals = w->values;
    uint32_t e = tc_index_at(w->row_ptr, w->row_ptr_type, 0);
    for (int32_t r = 0; r < rows; ++r) {
        const uint32_t end = tc_index_at(w->row_ptr, w->row_ptr_type, r + 1);
        const int8_t *xr = x + r * x_step;
        int32_t acc = q->bias_f[r];
        /* two per iteration: halves the loop overhead, GCC -O2 does not unroll */
        for (; e + 2 <= end; e += 2) {
            acc += vals[e] * xr[cols[e]] + vals[e + 1] * xr[cols[e + 1]];
        }
        if (e < end) {
            acc += vals[e] * xr[cols[e]];
            ++e;
        }
        out[r] = tc_out_s8(acc, q, r);
    }
}

#undef TC_ROWS_NAME
#undef TC_COL_T
