/* Output, exit and file input: semihosting under QEMU (TC_SIM=1), UART on hardware. */
#include <stdint.h>

#include "tc_board.h"
#include "tc_platform.h"
#include "tc_semihost.h"

#if !TC_SIM
#include "tc_board_hw.h"
#endif

void tc_timer_init(void);
int32_t tc_clock_init(void);
void tc_uart_init(uint32_t brr);
void tc_uart_write(const char *s);

static uint32_t clock_hz = TC_BOARD_CLOCK_HZ;

void tc_platform_init(void)
{
#if !TC_SIM
    /* Bounded clock setup; on a timeout the part stays on its reset clock and says so. */
    int32_t failed = tc_clock_init();
    clock_hz = failed < 0 ? TC_RUN_HZ : TC_RESET_HZ;
    tc_uart_init(failed < 0 ? TC_UART_BRR_RUN : TC_UART_BRR);
    if (failed >= 0) {
        tc_print("TC_CLOCK_FALLBACK step ");
        tc_print_i32(failed);
        tc_print(" timed out: running at ");
        tc_print_u32(clock_hz);
        tc_print(" Hz\n");
    }
#endif
    tc_timer_init();
}

uint32_t tc_clock_hz(void) { return clock_hz; }

void tc_print(const char *s)
{
#if TC_SIM
    tc_semihost_write0(s);
#else
    tc_uart_write(s);
#endif
}

void tc_print_u32(uint32_t value)
{
    char text[11];
    char *p = &text[10];
    *p = '\0';
    do {
        *--p = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    tc_print(p);
}

void tc_print_i32(int32_t value)
{
    if (value < 0) {
        tc_print("-");
        tc_print_u32(0u - (uint32_t)value);
    } else {
        tc_print_u32((uint32_t)value);
    }
}

int32_t tc_read_file(const char *path, void *buf, uint32_t capacity)
{
#if TC_SIM
    return tc_semihost_read_file(path, buf, capacity);
#else
    (void)path;
    (void)buf;
    (void)capacity;
    return -1;
#endif
}

void tc_exit(int code)
{
#if TC_SIM
    tc_semihost_exit(code);
#else
    tc_print("TC_EXIT ");
    tc_print_i32(code);
    tc_print("\n");
    for (;;) {
        __asm__ volatile("wfi");
    }
#endif
}
