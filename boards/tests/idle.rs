//! Timers, priorities and Notifier wake-ups while the network is idle: on virtual time with a
//! `NetHost`, and on embassy's real clock with the async `next`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use core::time::Duration;
use levent_core::{Engine, Event, Host, Notifier, Ready};
use levent_embassy::link::LinkConfig;
use smoltcp::phy::Medium;
use support::{World, platform, seed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    Tick,
    Irq,
    Stop,
}

static IRQ: Notifier<4> = Notifier::new();

#[test]
fn timers_and_notifier_wake_ups_while_the_network_is_idle() {
    let seed = seed(41);
    let mut w = World::new(LinkConfig::ideal(Medium::Ethernet), seed, 2, 2);
    let mut e: Box<Engine<Ev, 8, 4, 2>> = Box::new(Engine::new(platform()));
    e.set_priorities(2).unwrap();
    let tick = Event::timer().persist().priority(1);
    e.start(tick, Ev::Tick, Some(Duration::from_millis(10)))
        .unwrap();
    let irq = e
        .start(Event::user().persist().priority(0), Ev::Irq, None)
        .unwrap();
    e.start(Event::timer(), Ev::Stop, Some(Duration::from_millis(45)))
        .unwrap();
    w.server.attach((&IRQ).into()).unwrap();
    // The server listens, but nobody connects: the network stays idle.
    w.server.listen(7, 2).unwrap();
    let mut seen = vec![];
    let mut notified = false;
    'run: loop {
        while let Some(f) = e.next(&mut w.server).unwrap() {
            seen.push((f.datum, f.ready, w.server.now()));
            if f.datum == Ev::Stop {
                break 'run;
            }
        }
        // Idle: the host would sleep until the next timer, never sooner.
        let next = w.server.wake_at().expect("a timer is due");
        assert_eq!(
            next % 5_000,
            0,
            "seed {seed}: woke for {next} µs, not for a timer"
        );
        if !notified && next > 25_000 {
            // An interrupt at 25 ms, while the loop sleeps.
            w.server.set_now(25_000);
            IRQ.notify(irq).unwrap();
            notified = true;
        } else {
            w.server.set_now(next);
        }
    }
    let ms = |t: u64| t / 1000;
    let trace: Vec<_> = seen.iter().map(|&(d, r, t)| (d, r, ms(t))).collect();
    assert_eq!(
        trace,
        [
            (Ev::Tick, Ready::TIMEOUT, 10),
            (Ev::Tick, Ready::TIMEOUT, 20),
            (Ev::Irq, Ready::USER, 25),
            (Ev::Tick, Ready::TIMEOUT, 30),
            (Ev::Tick, Ready::TIMEOUT, 40),
            (Ev::Stop, Ready::TIMEOUT, 45),
        ],
        "seed {seed}"
    );
    assert_eq!(
        w.link.stats().sent,
        0,
        "seed {seed}: the idle network sent nothing"
    );
}

static ASYNC_IRQ: Notifier<4> = Notifier::new();

/// A minimal executor: poll on this thread, park until woken.
fn block_on<F: core::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut f = core::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn async_next_sleeps_until_the_deadline_or_a_notification() {
    let mut host = levent_embassy::TimeHost::new(levent_embassy::CLOCK);
    host.attach((&ASYNC_IRQ).into()).unwrap();
    let mut e: Box<Engine<Ev, 8, 2, 2>> = Box::new(Engine::new(levent_embassy::PLATFORM));
    e.set_priorities(2).unwrap();
    let irq = e.start(Event::user().priority(0), Ev::Irq, None).unwrap();
    e.start(
        Event::timer().priority(1),
        Ev::Tick,
        Some(Duration::from_millis(300)),
    )
    .unwrap();
    let start = std::time::Instant::now();
    let fire = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        ASYNC_IRQ.notify(irq).unwrap();
    });
    let first = block_on(levent_embassy::next(&mut host, &mut *e))
        .unwrap()
        .unwrap();
    let at_first = start.elapsed();
    let second = block_on(levent_embassy::next(&mut host, &mut *e))
        .unwrap()
        .unwrap();
    let at_second = start.elapsed();
    fire.join().unwrap();
    assert_eq!((first.datum, first.ready), (Ev::Irq, Ready::USER));
    assert!(
        at_first < Duration::from_millis(250),
        "woken at {at_first:?}"
    );
    assert_eq!((second.datum, second.ready), (Ev::Tick, Ready::TIMEOUT));
    assert!(
        at_second >= Duration::from_millis(300),
        "timer fired early: {at_second:?}"
    );
    // Nothing left: the loop ends instead of sleeping forever.
    assert_eq!(
        block_on(levent_embassy::next(&mut host, &mut *e)).unwrap(),
        None
    );
}
