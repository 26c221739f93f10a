/**
 * @file tc_semihost.h
 * @brief ARM semihosting calls used under QEMU (`-semihosting-config enable=on,target=native`).
 *
 * Never call these on hardware without a debugger attached: the BKPT traps.
 */
#ifndef TC_SEMIHOST_H
#define TC_SEMIHOST_H

#include <stdint.h>

/** Write a NUL-terminated string to the host console (SYS_WRITE0). */
void tc_semihost_write0(const char *s);

/** Open, read and close a host file; bytes read, or -1 (SYS_OPEN/SYS_FLEN/SYS_READ/SYS_CLOSE). */
int32_t tc_semihost_read_file(const char *path, void *buf, uint32_t capacity);

/** Exit the simulator with @p code (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). */
void tc_semihost_exit(int code) __attribute__((noreturn));

#endif /* TC_SEMIHOST_H */
