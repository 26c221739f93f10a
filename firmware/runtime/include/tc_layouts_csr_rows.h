/**
 * @file tc_layouts_csr_rows.h
 * @brief Template (included once per index type): the CSR row loop.
 *
 * Before including, define TC_ROWS_NAME (function name) and TC_COL_T (col_idx
 * element type). row_ptr is read once per row through tc_index_at. Values
 * and columns are walked by pointers that run on across rows (rows are
 * consecutive), four entries per iteration: GCC -O2 does not unroll, and on
 * Cortex-M4 an entry is then 4 instructions (two loads with post-increment,
 * the x load, MLA) plus a quarter of the loop test.
 */
static void TC_ROWS_NAME(const tc_csr_weights *w, const tc_quant_params *q, int32_t rows,
                         const int8_t *x, int32_t x_step, int8_t *out)
{
    const TC_COL_T *const cols = (const TC_COL_T *)w->col_idx;
    const TC_COL_T *c = cols + tc_index_at(w->row_ptr, w->row_ptr_type, 0);
    const int8_t *v = w->values + (c - cols);
    const void *const row_ptr = w->row_ptr;
    const tc_index_type row_ptr_type = w->row_ptr_type;
    const tc_out_params o = tc_out_params_of(q);
    for (int32_t r = 0; r < rows; ++r) {
        const TC_COL_T *const ce = cols + tc_index_at(row_ptr, row_ptr_type, r + 1);
        const int8_t *xr = x + r * x_step;
        int32_t acc = tc_bias(q, r);
        for (; ce - c >= 4; c += 4, v += 4) {
            acc += v[0] * xr[c[0]] + v[1] * xr[c[1]] + v[2] * xr[c[2]] + v[3] * xr[c[3]];
        }
        for (; c < ce; ++c, ++v) {
            acc += *v * xr[*c];
        }
        out[r] = tc_out_row(&o, acc, r);
    }
}

#undef TC_ROWS_NAME
#undef TC_COL_T
