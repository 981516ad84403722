//! levent's dispatcher on an emulated Cortex-M3 (qemu `lm3s6965evb`): timers, priorities, and a
//! Notifier fired from an interrupt handler while the loop sleeps, on embassy-executor and a
//! SysTick time driver. Logs through defmt over semihosting and exits qemu with status 0 when
//! every check passes, 1 otherwise.

#![no_std]
#![no_main]

#[path = "common.rs"]
mod common;

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use critical_section::Mutex;
use defmt_semihosting as _;
use embassy_executor::Spawner;
use embassy_time::Timer;
use levent_core::{Engine, Event, EventId, Exit, Host, Notifier, Ready};
use levent_embassy::{CLOCK, PLATFORM, TimeHost};
use lm3s6965::{Interrupt, interrupt};

/// What an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
enum Ev {
    Tick,
    Irq,
    Prio(u8),
}

static IRQ: Notifier<4> = Notifier::new();
static IRQ_EVENT: Mutex<Cell<Option<EventId>>> = Mutex::new(Cell::new(None));
static IRQ_TAKEN: AtomicU32 = AtomicU32::new(0);

/// An interrupt nobody else uses on this board; the trigger task pends it, as a peripheral
/// would raise it.
#[interrupt]
fn GPIOA() {
    IRQ_TAKEN.fetch_add(1, Ordering::Relaxed);
    if let Some(id) = critical_section::with(|cs| IRQ_EVENT.borrow(cs).get()) {
        let _ = IRQ.notify(id);
    }
}

/// Pend the interrupt at 25 ms and at 42 ms (while the levent task sleeps until a timer).
#[embassy_executor::task]
async fn trigger() {
    Timer::after_millis(25).await;
    cortex_m::peripheral::NVIC::pend(Interrupt::GPIOA);
    Timer::after_millis(17).await;
    cortex_m::peripheral::NVIC::pend(Interrupt::GPIOA);
}

fn check(ok: &mut bool, cond: bool, what: &str) {
    if cond {
        defmt::info!("ok: {=str}", what);
    } else {
        defmt::error!("FAILED: {=str}", what);
        *ok = false;
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        common::exit(false)
    };
    common::start_time(&mut p.SYST);
    // SAFETY: GPIOA's handler only touches the notifier and an atomic, both interrupt-safe.
    unsafe { cortex_m::peripheral::NVIC::unmask(Interrupt::GPIOA) };
    defmt::info!(
        "levent on lm3s6965: {=u64} Hz core, {=u64} Hz ticks",
        common::CORE_HZ,
        CLOCK.hz()
    );

    let mut ok = true;
    let mut host = TimeHost::new(CLOCK);
    if host.attach((&IRQ).into()).is_err() {
        common::exit(false)
    }
    let mut engine: Engine<Ev, 16, 1, 3> = Engine::new(PLATFORM);
    let _ = engine.set_priorities(3);

    // 1. Priorities: three events activated least urgent first come out most urgent first.
    for prio in [2u8, 0, 1] {
        match engine.create(Event::user().priority(prio), Ev::Prio(prio)) {
            Ok(id) => {
                let _ = engine.activate(id, Ready::USER);
            }
            Err(_) => common::exit(false),
        }
    }
    let mut order = [0u8; 3];
    for slot in order.iter_mut() {
        if let Ok(Some(f)) = levent_embassy::next(&mut host, &mut engine).await
            && let Ev::Prio(p) = f.datum
        {
            *slot = p;
        }
    }
    check(&mut ok, order == [0, 1, 2], "priorities: 0, 1, 2");

    // 2. Timers and 3. the interrupt: a 10 ms persistent tick, the IRQ's user event at the most
    // urgent priority, and an exit after 55 ms.
    let start = engine.now();
    let tick = engine.start(
        Event::timer().persist().priority(1),
        Ev::Tick,
        Some(Duration::from_millis(10)),
    );
    let irq = engine.start(Event::user().persist().priority(0), Ev::Irq, None);
    let (Ok(_), Ok(irq)) = (tick, irq) else {
        common::exit(false)
    };
    critical_section::with(|cs| IRQ_EVENT.borrow(cs).set(Some(irq)));
    let _ = engine.loop_exit(Some(Duration::from_millis(55)));
    match trigger() {
        Ok(token) => spawner.spawn(token),
        Err(_) => common::exit(false),
    }
    let mut ticks = 0u64;
    let mut irqs = [0u64; 2];
    let mut nirq = 0;
    loop {
        match levent_embassy::next(&mut host, &mut engine).await {
            Ok(Some(f)) => {
                let at = engine.now() - start;
                defmt::info!("{} at {=u64} ms ({})", f.datum, at, f.ready);
                match f.datum {
                    Ev::Tick => {
                        ticks += 1;
                        check(
                            &mut ok,
                            at >= ticks * 10 && at < ticks * 10 + 5,
                            "tick on time",
                        );
                    }
                    Ev::Irq => {
                        if let Some(slot) = irqs.get_mut(nirq) {
                            *slot = at;
                        }
                        nirq += 1;
                    }
                    Ev::Prio(_) => ok = false,
                }
            }
            Ok(None) => break,
            Err(_) => common::exit(false),
        }
    }
    check(
        &mut ok,
        engine.last_exit() == Some(Exit::Exit),
        "loop_exit ended the loop",
    );
    check(&mut ok, ticks == 5, "five ticks in 55 ms");
    check(
        &mut ok,
        IRQ_TAKEN.load(Ordering::Relaxed) == 2,
        "two interrupts taken",
    );
    check(&mut ok, nirq == 2, "two notifications delivered");
    // Each woke the sleeping loop before the next timer was due.
    check(
        &mut ok,
        (25..30).contains(&irqs[0]),
        "first interrupt woke the loop at 25 ms",
    );
    check(
        &mut ok,
        (42..50).contains(&irqs[1]),
        "second interrupt woke the loop at 42 ms",
    );
    common::exit(ok)
}
