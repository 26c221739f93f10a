/**
 * @file tc_platform.h
 * @brief Bare-metal platform layer of tinycompress firmware (C99).
 *
 * One compile-time switch selects how the firmware talks to the world:
 *
 * | TC_SIM | output                      | timer (tc_timer_*)                     | tc_read_file |
 * |--------|-----------------------------|----------------------------------------|--------------|
 * | 0      | UART (board's VCP, 115200)  | DWT CYCCNT: core clock cycles          | returns -1   |
 * | 1      | semihosting (SYS_WRITE0)    | executed instructions under QEMU,      | semihosting  |
 * |        | exit via SYS_EXIT_EXTENDED  | exact (see TC_SIM_TIMER)               | SYS_OPEN/READ|
 *
 * Everything else (kernels, data, startup, linker layout apart from what
 * boards.py documents) is the same in both builds.
 *
 * Build-time definitions, generated from the board data by tinycompress:
 * - TC_SIM (0/1): the switch; passed as -DTC_SIM=1 by the simulation environment.
 * - TC_SIM_TIMER: TC_TIMER_STM32_TIM2 (netduinoplus2: QEMU clocks TIM2 at 1 GHz,
 *   run with `-icount shift=0`: 1 ns = 1 instruction = 1 tick) or
 *   TC_TIMER_CMSDK_TIMER0 (mps2 machines: 25 MHz timer, run with
 *   `-icount shift=7`: 128 ns per instruction = 3.2 ticks, rounded back to
 *   instructions). TC_SIM_TICKS_NUM / TC_SIM_TICKS_DEN = ticks per instruction.
 * - TC_UART_* (hardware builds only): register addresses of the VCP UART.
 * - tc_board_hw.h (hardware builds): the clock steps (TC_CLOCK_*), the UART
 *   divider at the run clock (TC_UART_BRR_RUN) and the energy-mode pin (TC_ENERGY_*).
 */
#ifndef TC_PLATFORM_H
#define TC_PLATFORM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TC_TIMER_CMSDK_TIMER0 1
#define TC_TIMER_STM32_TIM2 2

/** Start the FPU-independent platform: UART (hardware) and the timer. Call first in main(). */
void tc_platform_init(void);

/** Write a NUL-terminated string to the output channel (no newline added). */
void tc_print(const char *s);

/** Write an unsigned decimal number to the output channel. */
void tc_print_u32(uint32_t value);

/** Write a signed decimal number to the output channel. */
void tc_print_i32(int32_t value);

/** Remember the current timer value as the start of a measurement. */
void tc_timer_start(void);

/**
 * Time since the last tc_timer_start(): core cycles on hardware (DWT CYCCNT),
 * executed instructions under QEMU, exact and repeatable. Measurements must be
 * shorter than 2^32 cycles (hardware) or 1.3e9 instructions (mps2 machines).
 */
uint32_t tc_timer_elapsed(void);

/** A timer reading for tc_timer_since(); independent of tc_timer_start (which the model's layer timing uses). */
uint32_t tc_timer_mark(void);

/** Cycles (instructions under QEMU) since @p mark = tc_timer_mark(); same limits as tc_timer_elapsed. */
uint32_t tc_timer_since(uint32_t mark);

/**
 * Read up to @p capacity bytes of the host file @p path (relative to QEMU's
 * working directory) into @p buf. Returns the number of bytes read, or -1 when
 * the file cannot be opened or read (always -1 on hardware: no semihosting host).
 */
int32_t tc_read_file(const char *path, void *buf, uint32_t capacity);

/** The core clock in Hz the firmware runs at (hardware: after the bounded clock setup). */
uint32_t tc_clock_hz(void);

/** Busy-wait about @p cycles core cycles (instructions under QEMU); bounded even where the timer does not count. */
void tc_delay_cycles(uint32_t cycles);

/** Energy mode: drive the timestamp GPIO to its idle level (hardware); nothing under QEMU. */
void tc_energy_init(void);

/**
 * Energy mode: mark a window edge named @p what: a >= 1 us timestamp pulse on
 * the board's GPIO (hardware), a "TC_MARK <what>" line over semihosting (QEMU).
 */
void tc_energy_mark(const char *what);

/** End the program: QEMU exits with @p code; hardware prints "TC_EXIT <code>" and sleeps. */
void tc_exit(int code) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif /* TC_PLATFORM_H */
