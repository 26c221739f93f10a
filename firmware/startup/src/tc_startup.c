/*
 * Vector table and reset handler for every tinycompress board.
 *
 * The linker script (generated from the board data by tinycompress.boards)
 * provides _sidata/_sdata/_edata (.data load and run addresses), _sbss/_ebss
 * and _estack (top of the stack reserve).
 */
#include <stdint.h>

#include "tc_platform.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

int main(void);
void Reset_Handler(void);
void tc_fault_handler(void);

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* Only the 16 system exceptions: the firmware enables no peripheral interrupt. */
__attribute__((section(".isr_vector"), used)) void (*const tc_vector_table[16])(void) = {
    (void (*)(void))(&_estack),
    Reset_Handler,
    tc_fault_handler, /* NMI */
    tc_fault_handler, /* HardFault */
    tc_fault_handler, /* MemManage */
    tc_fault_handler, /* BusFault */
    tc_fault_handler, /* UsageFault */
    0, 0, 0, 0,
    tc_fault_handler, /* SVCall */
    tc_fault_handler, /* DebugMonitor */
    0,
    tc_fault_handler, /* PendSV */
    tc_fault_handler, /* SysTick: the timer polls COUNTFLAG, no interrupt */
};

static void enable_fpu(void)
{
#if defined(__ARM_FP)
    /* CP10 and CP11 full access, before any floating-point instruction runs. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
}

__attribute__((noreturn)) void Reset_Handler(void)
{
    enable_fpu();
    SCB_VTOR = (uint32_t)tc_vector_table;
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    tc_exit(main());
}

void tc_fault_handler(void)
{
    tc_print("TC_FAULT\n");
    tc_exit(3);
}
