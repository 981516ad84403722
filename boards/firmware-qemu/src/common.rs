//! What both firmware binaries share: the SysTick time driver, defmt over semihosting, and
//! exiting qemu with a status.

use cortex_m_rt::exception;
// The vector table of the lm3s6965 interrupts.
use lm3s6965 as _;
use systick_timer::SystickDriver;

/// The lm3s6965 runs from its 12.5 MHz oscillator at reset; SysTick counts core cycles, so a
/// reload of 12 500 gives the 1 kHz of embassy-time's `tick-hz-1_000`.
pub const CORE_HZ: u64 = 12_500_000;

embassy_time_driver::time_driver_impl!(static DRIVER: SystickDriver<4> = SystickDriver::new(CORE_HZ, (CORE_HZ / 1_000) as u32 - 1));

#[exception]
fn SysTick() {
    DRIVER.systick_interrupt();
}

/// Start the time driver on the core's SysTick.
pub fn start_time(syst: &mut cortex_m::peripheral::SYST) {
    DRIVER.start(syst);
}

/// End the qemu run: status 0 when `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    if ok {
        defmt::info!("exit 0");
    } else {
        defmt::error!("exit 1");
    }
    semihosting::process::exit(if ok { 0 } else { 1 })
}

/// A release build says only that it panicked: reading the location (or the message) keeps every
/// panic site's file name, line and formatting code in flash. A debug build says where.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(debug_assertions)]
    if let Some(l) = info.location() {
        defmt::error!("panic at {=str}:{=u32}", l.file(), l.line());
    }
    #[cfg(not(debug_assertions))]
    let _ = info;
    defmt::error!("panic");
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!(
        "hard fault at pc {=u32:#x} (lr {=u32:#x}, sp {=u32:#x})",
        frame.pc(),
        frame.lr(),
        frame as *const _ as u32
    );
    exit(false)
}
