/* ARM semihosting (ARM IHI 0056): operation in r0, argument block pointer in r1, BKPT 0xAB. */
#include "tc_semihost.h"

#include <string.h>

enum {
    SYS_OPEN = 0x01,
    SYS_CLOSE = 0x02,
    SYS_WRITE0 = 0x04,
    SYS_READ = 0x06,
    SYS_FLEN = 0x0C,
    SYS_EXIT_EXTENDED = 0x20,
    ADP_STOPPED_APPLICATION_EXIT = 0x20026,
    OPEN_MODE_RB = 1,
};

static int32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

void tc_semihost_write0(const char *s)
{
    semihost_call(SYS_WRITE0, s);
}

int32_t tc_semihost_read_file(const char *path, void *buf, uint32_t capacity)
{
    uint32_t open_args[3] = {(uint32_t)path, OPEN_MODE_RB, (uint32_t)strlen(path)};
    int32_t handle = semihost_call(SYS_OPEN, open_args);
    if (handle < 0) {
        return -1;
    }
    uint32_t handle_arg = (uint32_t)handle;
    int32_t length = semihost_call(SYS_FLEN, &handle_arg);
    int32_t result = -1;
    if (length >= 0) {
        uint32_t want = (uint32_t)length < capacity ? (uint32_t)length : capacity;
        uint32_t read_args[3] = {handle_arg, (uint32_t)buf, want};
        /* SYS_READ returns the number of bytes NOT read. */
        int32_t missing = semihost_call(SYS_READ, read_args);
        if (missing >= 0 && (uint32_t)missing <= want) {
            result = (int32_t)(want - (uint32_t)missing);
        }
    }
    semihost_call(SYS_CLOSE, &handle_arg);
    return result;
}

void tc_semihost_exit(int code)
{
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    semihost_call(SYS_EXIT_EXTENDED, args);
    for (;;) {
    }
}
