/**
 * @file tc_context.h
 * @brief Scratch memory a kernel borrows from its caller (CMSIS-NN's cmsis_nn_context).
 *
 * Kernels never allocate. A kernel that needs working memory has a
 * `<kernel>_buffer_size(...)` function and takes a tc_context whose buffer
 * holds at least that many bytes; the generated model plans each such buffer
 * into its static activation arena, live only while its layer runs
 * (tinycompress/codegen/scratch.py computes the same sizes in Python).
 */
#ifndef TC_CONTEXT_H
#define TC_CONTEXT_H

#include <stdint.h>

/** Scratch memory for one kernel call; its contents are not kept between calls. */
typedef struct {
    void *buf;    /**< 4-byte aligned, not overlapping the kernel's input or output */
    int32_t size; /**< bytes at buf, >= the kernel's *_buffer_size() */
} tc_context;

#endif /* TC_CONTEXT_H */
