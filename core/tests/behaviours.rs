//! The engine behaviours of `shared/corpora/eventloop/behaviours.json`, on the simulation host.
//! Each test is named after the behaviour it checks; the corpus id is in its doc comment.
//! Ticks are milliseconds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use levent_core::sim::{Action, Sim};
use levent_core::{
    AddError, Change, CreateError, Dispatcher, Engine, Event, Exit, IdError, Interest, Mode,
    Platform, PriorityError, Ready, SourceKey, Tick,
};

type S = Sim<64>;
type Eng<T> = Engine<T, 256, 256, 8>;

fn engine<T: Copy>() -> Box<Eng<T>> {
    Box::new(Engine::new(Platform::manual(1000)))
}

fn ms(n: u64) -> Option<Duration> {
    Some(Duration::from_millis(n))
}

/// Run to the end, recording `(datum, ready, now)` for every fired event.
fn trace<T: Copy>(e: &mut Eng<T>, sim: &mut Sim<64>) -> (Vec<(T, Ready, Tick)>, Exit) {
    let mut out = Vec::new();
    let exit = e
        .run(sim, Mode::Default, &mut |ev, f| {
            out.push((f.datum, f.ready, ev.now()))
        })
        .unwrap();
    (out, exit)
}

/// EL01
#[test]
fn one_shot_timer_fires_once_with_timeout_then_loop_reports_no_events() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 'a', ms(200)).unwrap();
    let (t, exit) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![('a', Ready::TIMEOUT, 200)]);
    assert_eq!(exit, Exit::Empty);
}

/// EL02
#[test]
fn persistent_timeout_repeats_at_its_period_until_loop_exit() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer().persist(), (), ms(10)).unwrap();
    let mut times = vec![];
    let exit = e
        .run(&mut sim, Mode::Default, &mut |ev, _| {
            times.push(ev.now());
            if times.len() == 6 {
                ev.loop_exit(None).unwrap();
            }
        })
        .unwrap();
    assert_eq!(times, vec![10, 20, 30, 40, 50, 60]);
    assert_eq!(exit, Exit::Exit);
}

/// EL03
#[test]
fn persistent_timeout_does_not_burst_after_stall() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer().persist(), (), ms(100)).unwrap();
    sim.sleep(300);
    e.loop_exit(ms(50)).unwrap(); // counted from the engine's time, 0
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![((), Ready::TIMEOUT, 300)]);
    // Re-armed from now: the next firing is at 400, not at 200 or 300.
    let (next, _) = {
        e.loop_exit(ms(150)).unwrap();
        trace(&mut e, &mut sim)
    };
    assert_eq!(next, vec![((), Ready::TIMEOUT, 400)]);
}

/// EL04
#[test]
fn manual_activation_rebases_a_persistent_timeout() {
    let mut e = engine();
    let mut sim = S::new(1);
    let per = e.start(Event::timer().persist(), 'p', ms(200)).unwrap();
    e.start(Event::timer(), 'k', ms(100)).unwrap();
    e.loop_exit(ms(600)).unwrap();
    let mut calls = vec![];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        if f.datum == 'k' {
            ev.activate(per, Ready::READ).unwrap();
        } else {
            calls.push((f.ready, ev.now()));
        }
    })
    .unwrap();
    assert_eq!(
        calls,
        vec![
            (Ready::READ, 100),
            (Ready::TIMEOUT, 300),
            (Ready::TIMEOUT, 500)
        ]
    );
}

/// EL05
#[test]
fn equal_deadlines_fire_in_the_order_they_were_added() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 'A', ms(0)).unwrap();
    e.start(Event::timer(), 'B', ms(0)).unwrap();
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t.iter().map(|x| x.0).collect::<String>(), "AB");
    e.start(Event::timer(), 'B', ms(5)).unwrap();
    e.start(Event::timer(), 'A', ms(5)).unwrap();
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t.iter().map(|x| x.0).collect::<String>(), "BA");
}

/// EL06
#[test]
fn restarting_a_timer_replaces_its_earlier_deadline() {
    let mut e = engine();
    let mut sim = S::new(1);
    let id = e
        .start(Event::timer(), (), Some(Duration::from_secs(24 * 3600)))
        .unwrap();
    e.add(id, ms(10)).unwrap();
    let (t, exit) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![((), Ready::TIMEOUT, 10)]);
    assert_eq!(exit, Exit::Empty);
    // Re-adding with a later deadline also replaces it (the lazily kept heap entry is moved).
    let id = e.start(Event::timer(), (), ms(10)).unwrap();
    e.add(id, ms(30)).unwrap();
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![((), Ready::TIMEOUT, 40)]);
}

/// EL07
#[test]
fn hundred_persistent_timers_of_two_periods_each_fire_four_times() {
    let mut e = engine();
    let mut sim = S::new(1);
    let mut ids = vec![];
    for i in 0..100u32 {
        let period = if i % 2 == 1 { 100 } else { 200 };
        ids.push(e.start(Event::timer().persist(), i, ms(period)).unwrap());
    }
    // Some are re-added with the other period before dispatch: the new period replaces the old.
    for i in (0..100).step_by(10) {
        let other = if i % 2 == 1 { 200 } else { 100 };
        e.add(ids[i], ms(other)).unwrap();
        e.add(ids[i], ms(if other == 100 { 200 } else { 100 }))
            .unwrap();
    }
    let mut count = [0u32; 100];
    let mut last = [0u64; 100];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        let i = f.datum as usize;
        count[i] += 1;
        last[i] = ev.now();
        if count[i] == 4 {
            ev.del(f.id).unwrap();
        }
    })
    .unwrap();
    for i in 0..100 {
        assert_eq!(count[i], 4, "timer {i}");
        assert_eq!(last[i], if i % 2 == 1 { 400 } else { 800 }, "timer {i}");
    }
    // Dropping an engine with pending timers is safe.
    for i in 0..10 {
        e.start(Event::timer(), i, ms(5)).unwrap();
    }
    drop(e);
}

/// EL08
#[test]
fn random_timers_adding_and_deleting_each_other_lose_and_duplicate_nothing() {
    for seed in 0..if cfg!(miri) { 2 } else { 20u64 } {
        let mut e = engine::<u32>();
        let mut sim = Sim::<64>::new(seed);
        let n = 40u32;
        let mut ids = vec![];
        for i in 0..n {
            let t = sim.rng().u64(0..=50);
            ids.push(e.start(Event::timer(), i, ms(t)).unwrap());
        }
        let mut expected_live: Vec<bool> = vec![true; n as usize];
        let mut calls = 0;
        let mut rng = fastrand::Rng::with_seed(seed);
        e.run(&mut sim, Mode::Default, &mut |ev, f| {
            let i = f.datum as usize;
            assert!(
                expected_live[i],
                "seed {seed}: timer {i} fired while deleted or idle"
            );
            expected_live[i] = false;
            calls += 1;
            if calls >= 10 * n {
                return;
            }
            // Re-add self, and add or delete another one at random.
            ev.add(f.id, ms(rng.u64(0..=50))).unwrap();
            expected_live[i] = true;
            let j = rng.usize(0..n as usize);
            if rng.bool() {
                ev.del(ids[j]).unwrap();
                expected_live[j] = false;
            } else {
                ev.add(ids[j], ms(rng.u64(0..=50))).unwrap();
                expected_live[j] = true;
            }
        })
        .unwrap();
        assert!(
            calls >= 10 * n || expected_live.iter().all(|l| !l),
            "seed {seed}"
        );
    }
}

/// EL10
#[test]
fn huge_timeouts_never_fire_early_and_overflow_is_an_error() {
    let mut e = engine();
    let mut sim = S::new(1);
    let id = e.create(Event::timer().persist(), 'h').unwrap();
    assert_eq!(
        e.add(id, Some(Duration::from_secs(u64::MAX))),
        Err(AddError::Overflow)
    );
    assert_eq!(e.add(id, Some(Duration::MAX)), Err(AddError::Overflow));
    assert!(
        !e.pending(id).unwrap().added,
        "a failed add changes nothing"
    );
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    e.add(id, Some(century)).unwrap();
    e.loop_exit(ms(10)).unwrap();
    let (t, exit) = trace(&mut e, &mut sim);
    assert!(t.is_empty());
    assert_eq!((exit, e.now()), (Exit::Exit, 10));
    assert_eq!(e.loop_exit(Some(Duration::MAX)), Err(levent_core::Overflow));
    // A persistent re-arm past the end of time saturates instead of wrapping to the past.
    let mut e2 = engine();
    let near_end = Duration::from_millis(u64::MAX / 2);
    e2.start(Event::timer().persist(), 'x', Some(near_end))
        .unwrap();
    let mut sim2 = S::new(1);
    sim2.sleep(u64::MAX / 2);
    e2.loop_exit(Some(near_end)).unwrap();
    let (t, _) = trace(&mut e2, &mut sim2);
    assert_eq!(t.len(), 1);
}

/// EL11
#[test]
fn loop_exit_ends_a_loop_whose_only_timer_is_far_away() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 'd', Some(Duration::from_secs(24 * 3600)))
        .unwrap();
    e.loop_exit(ms(300)).unwrap();
    let (t, exit) = trace(&mut e, &mut sim);
    assert!(t.is_empty());
    assert_eq!((exit, e.now()), (Exit::Exit, 300));
}

/// EL12
#[test]
fn earliest_of_several_loop_exits_wins() {
    let mut e = engine::<()>();
    let mut sim = S::new(1);
    e.loop_exit(ms(200)).unwrap();
    e.loop_exit(ms(3000)).unwrap();
    let (_, exit) = trace(&mut e, &mut sim);
    assert_eq!((exit, e.now()), (Exit::Exit, 200));
}

/// EL13
#[test]
fn loop_break_stops_before_the_next_callback() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 1, ms(0)).unwrap();
    e.start(Event::timer(), 2, ms(0)).unwrap();
    let mut seen = vec![];
    let exit = e
        .run(&mut sim, Mode::Default, &mut |ev, f| {
            seen.push(f.datum);
            ev.loop_break();
        })
        .unwrap();
    assert_eq!((seen, exit), (vec![1], Exit::Break));
    // The other one stays queued for the next loop.
    let (t, exit) = trace(&mut e, &mut sim);
    assert_eq!(t.iter().map(|x| x.0).collect::<Vec<_>>(), vec![2]);
    assert_eq!(exit, Exit::Empty);
}

/// EL14
#[test]
fn loop_on_an_empty_engine_returns_at_once_reporting_no_events() {
    let mut e = engine::<()>();
    let mut sim = S::new(1);
    assert_eq!(trace(&mut e, &mut sim).1, Exit::Empty);
    assert_eq!(sim.turns(), 0);
    assert_eq!(e.next(&mut sim), Ok(None));
    assert_eq!(e.last_exit(), Some(Exit::Empty));
}

/// EL15
#[test]
fn run_nowait_does_not_block_and_run_once_blocks_for_one_batch() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 't', ms(100)).unwrap();
    let mut n = 0;
    let exit = e.run(&mut sim, Mode::NoWait, &mut |_, _| n += 1).unwrap();
    assert_eq!((exit, n, e.now(), e.is_alive()), (Exit::Done, 0, 0, true));
    let exit = e.run(&mut sim, Mode::Once, &mut |_, _| n += 1).unwrap();
    assert_eq!((exit, n, e.now()), (Exit::Done, 1, 100));
}

/// EL16: running the loop from inside a callback is ruled out by the types: the callback gets
/// `&mut dyn Events<T>`, and the methods that drive the loop (`turn`, `next_fired`, `next`,
/// `run`) need the engine itself. The compile-fail example on `Engine::run` shows the call
/// refused; this shows the callback's handle still does everything else a callback needs.
#[test]
fn a_callback_changes_events_and_ends_the_loop_but_cannot_run_it() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer(), 1, ms(1)).unwrap();
    let mut results = vec![];
    let exit = e
        .run(&mut sim, Mode::Default, &mut |ev, f| {
            results.push(f.datum);
            if f.datum == 1 {
                ev.start(Event::timer(), 2, ms(1)).unwrap();
                ev.start(Event::timer(), 3, ms(5)).unwrap();
            } else {
                ev.loop_break();
            }
        })
        .unwrap();
    assert_eq!((results, exit), (vec![1, 2], Exit::Break));
}

/// EL17
#[test]
fn urgent_events_that_keep_coming_starve_less_urgent_ones() {
    for nprio in [3u8, 1] {
        let mut e = engine();
        let mut sim = S::new(1);
        e.set_priorities(nprio).unwrap();
        e.start(Event::timer().priority(0), "one", ms(0)).unwrap();
        e.start(Event::timer().priority(nprio - 1), "two", ms(0))
            .unwrap();
        let (mut one, mut two) = (0, 0);
        e.run(&mut sim, Mode::Default, &mut |ev, f| {
            if f.datum == "one" {
                one += 1;
                if one == 4 {
                    ev.loop_exit(None).unwrap();
                }
            } else {
                two += 1;
            }
            ev.add(f.id, ms(0)).unwrap();
        })
        .unwrap();
        if nprio == 3 {
            assert_eq!((one, two), (4, 0));
        } else {
            assert_eq!((one, two), (4, 4));
        }
    }
}

/// EL17, with the optional bound levent adds.
#[test]
fn starvation_limit_gives_a_starved_queue_a_pass() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.set_priorities(3).unwrap();
    e.set_starvation_limit(Some(2));
    e.start(Event::timer().priority(0), "one", ms(0)).unwrap();
    e.start(Event::timer().priority(2), "two", ms(0)).unwrap();
    let mut order = String::new();
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        order.push(if f.datum == "one" { '1' } else { '2' });
        if order.len() == 9 {
            ev.loop_break();
        }
        ev.add(f.id, ms(0)).unwrap();
    })
    .unwrap();
    assert_eq!(order, "112112112");
}

/// EL18
#[test]
fn activation_at_a_more_urgent_priority_preempts_queued_events() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.set_priorities(8).unwrap();
    let e0 = e.create(Event::user().priority(4), 0).unwrap();
    let e1 = e.create(Event::user().priority(4), 1).unwrap();
    let e2 = e.create(Event::user().priority(0), 2).unwrap();
    e.activate(e0, Ready::USER).unwrap();
    let mut order = vec![];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        order.push(f.datum);
        if f.datum == 0 {
            ev.activate(e1, Ready::USER).unwrap();
            ev.activate(e2, Ready::USER).unwrap();
        }
    })
    .unwrap();
    assert_eq!(order, vec![0, 2, 1]);
}

/// EL19
#[test]
fn priority_of_an_active_event_or_out_of_range_cannot_be_set() {
    let mut e = engine();
    e.set_priorities(3).unwrap();
    let id = e.start(Event::timer(), (), ms(10)).unwrap();
    assert_eq!(e.set_priority(id, 2), Ok(()));
    assert_eq!(e.set_priority(id, 3), Err(PriorityError::OutOfRange));
    e.activate(id, Ready::READ).unwrap();
    assert_eq!(e.set_priority(id, 0), Err(PriorityError::Active));
    assert_eq!(e.set_priorities(2), Err(PriorityError::Active));
    assert_eq!(e.set_priorities(0), Err(PriorityError::OutOfRange));
    assert_eq!(e.set_priorities(9), Err(PriorityError::OutOfRange));
    assert_eq!(e.priorities(), 3);
    assert_eq!(
        e.create(Event::timer().priority(3), ())
            .map_err(|r| r.error),
        Err(CreateError::BadPriority)
    );
}

/// EL20
#[test]
fn activating_twice_before_dispatch_merges_into_one_call() {
    let mut e = engine();
    let mut sim = S::new(1);
    let id = e.create(Event::read(SourceKey(9)), ()).unwrap();
    e.activate(id, Ready::READ).unwrap();
    assert_eq!(e.pending(id).unwrap().ready, Ready::READ);
    e.activate(id, Ready::WRITE).unwrap();
    assert_eq!(e.pending(id).unwrap().ready, Ready::READ | Ready::WRITE);
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![((), Ready::READ | Ready::WRITE, 0)]);
}

/// EL21
#[test]
fn activation_and_expiry_in_one_pass_make_one_call_with_both_flags() {
    let mut e = engine();
    let mut sim = S::new(1);
    let id = e
        .start(
            Event::read(SourceKey(4)),
            (),
            Some(Duration::from_micros(100)),
        )
        .unwrap();
    e.activate(id, Ready::READ).unwrap();
    sim.sleep(1000);
    let exit = e.run(&mut sim, Mode::NoWait, &mut |_, f| {
        assert_eq!(f.ready, Ready::READ | Ready::TIMEOUT)
    });
    assert_eq!(exit, Ok(Exit::Done));
    assert!(e.pending(id).map(|p| !p.added && !p.active).unwrap());
}

/// EL22
#[test]
fn deferred_activations_do_not_starve_io() {
    let mut e = engine();
    let mut sim = S::new(1);
    let r = SourceKey(1);
    let w = SourceKey(2);
    e.start(Event::read(r).persist(), 'r', None).unwrap();
    e.start(Event::write(w).persist(), 'w', None).unwrap();
    let ping = e.create(Event::user(), 'p').unwrap();
    let pong = e.create(Event::user(), 'q').unwrap();
    sim.set_ready(r, Ready::READ).unwrap();
    sim.set_ready(w, Ready::WRITE).unwrap();
    e.activate_later(ping, Ready::USER).unwrap();
    let (mut reads, mut writes, mut pings) = (0, 0, 0);
    for _ in 0..200 {
        e.run(&mut sim, Mode::NoWait, &mut |ev, f| match f.datum {
            'r' => reads += 1,
            'w' => writes += 1,
            'p' => {
                pings += 1;
                ev.activate_later(pong, Ready::USER).unwrap();
            }
            _ => {
                pings += 1;
                ev.activate_later(ping, Ready::USER).unwrap();
            }
        })
        .unwrap();
    }
    assert!(
        reads >= 100 && writes >= 100,
        "reads {reads} writes {writes}"
    );
    assert_eq!(writes, pings);
    // A later activate() makes an 'active later' event active at once: it runs in this pass.
    let mut e = engine();
    let k = SourceKey(1);
    e.start(Event::read(k), 'r', None).unwrap();
    let later = e.create(Event::user(), 'l').unwrap();
    let now = e.create(Event::user(), 'n').unwrap();
    sim.set_ready(k, Ready::READ).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::NoWait, &mut |ev, f| {
        seen.push(f.datum);
        if f.datum == 'r' {
            ev.activate_later(later, Ready::USER).unwrap();
            ev.activate_later(now, Ready::USER).unwrap();
            ev.activate(now, Ready::USER).unwrap();
        }
    })
    .unwrap();
    assert_eq!(seen, vec!['r', 'n']);
    assert!(e.pending(later).unwrap().active);
}

/// EL23
#[test]
fn dropping_an_engine_with_added_and_active_events_calls_nothing() {
    let mut e = engine();
    let id = e.start(Event::timer(), 'a', ms(10)).unwrap();
    e.start(Event::read(SourceKey(3)), 'b', None).unwrap();
    e.activate(id, Ready::TIMEOUT).unwrap();
    drop(e);
}

/// EL24
#[test]
fn one_shot_read_on_a_source_that_stays_readable_fires_once() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(7);
    e.start(Event::read(k), 'r', None).unwrap();
    sim.set_ready(k, Ready::READ).unwrap();
    let mut n = 0;
    for _ in 0..5 {
        e.run(&mut sim, Mode::NoWait, &mut |_, _| n += 1).unwrap();
        sim.set_ready(k, Ready::READ).unwrap();
    }
    assert_eq!(n, 1);
    e.turn(&mut sim, false).unwrap();
    assert_eq!(
        sim.registration(k),
        None,
        "the one-shot's interest was dropped"
    );
}

/// EL25
#[test]
fn persistent_read_fires_for_each_readiness_until_deleted() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(7);
    let id = e.start(Event::read(k).persist(), 'r', None).unwrap();
    let mut n = 0;
    for round in 0..5 {
        sim.schedule(round * 10 + 5, Action::SetReady(k, Ready::READ))
            .unwrap();
        e.run(&mut sim, Mode::Once, &mut |_, _| n += 1).unwrap();
        sim.clear_ready(k, Ready::READ);
    }
    assert_eq!(n, 5);
    e.del(id).unwrap();
    sim.set_ready(k, Ready::READ).unwrap();
    assert_eq!(trace(&mut e, &mut sim).0.len(), 0);
}

/// EL26
#[test]
fn one_shot_events_re_adding_each_other_fire_once_each() {
    let mut e = engine();
    let mut sim = S::new(1);
    let (a, b) = (SourceKey(1), SourceKey(2));
    let ea = e.start(Event::read(a), 'a', None).unwrap();
    let eb = e.start(Event::read(b), 'b', None).unwrap();
    sim.set_ready(a, Ready::READ).unwrap();
    sim.set_ready(b, Ready::READ).unwrap();
    let mut order = vec![];
    e.run(&mut sim, Mode::NoWait, &mut |ev, f| {
        order.push(f.datum);
        let other = if f.datum == 'a' { eb } else { ea };
        ev.add(other, None).unwrap();
    })
    .unwrap();
    assert_eq!(order, vec!['a', 'b']);
    assert!(e.pending(ea).unwrap().added, "re-added last");
    assert!(!e.pending(eb).unwrap().added, "fired after being re-added");
}

/// EL27
#[test]
fn once_events_fire_exactly_once_and_invalid_ones_are_refused() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(5);
    sim.set_ready(k, Ready::READ).unwrap();
    e.once(Event::read(k), "read", None).unwrap();
    e.once(Event::timer(), "50ms", ms(50)).unwrap();
    e.once(Event::timer(), "null", None).unwrap();
    e.once(Event::timer(), "zero", ms(0)).unwrap();
    let bad = e.once(Event::io(k, Interest::NONE), "none", None);
    assert_eq!(
        bad.map_err(|r| (r.error, r.datum)),
        Err((CreateError::NoInterest, "none"))
    );
    let (t, exit) = trace(&mut e, &mut sim);
    let mut names: Vec<_> = t.iter().map(|x| (x.0, x.1)).collect();
    names.sort_by_key(|x| (x.0, x.1.bits()));
    assert_eq!(
        names,
        vec![
            ("50ms", Ready::TIMEOUT),
            ("null", Ready::TIMEOUT),
            ("read", Ready::READ),
            ("zero", Ready::TIMEOUT)
        ]
    );
    assert_eq!(exit, Exit::Empty);
    assert_eq!(e.len(), 0, "once events free themselves");
}

/// EL28
#[test]
fn once_timer_that_never_comes_is_released_with_the_engine() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.once(Event::timer(), (), Some(Duration::from_secs(10)))
        .unwrap();
    e.loop_exit(ms(75)).unwrap();
    let (t, exit) = trace(&mut e, &mut sim);
    assert!(t.is_empty());
    assert_eq!(exit, Exit::Exit);
    assert_eq!(e.len(), 1);
    drop(e);
}

/// EL29
#[test]
fn removing_only_the_timeout_keeps_the_read_and_deleted_timers_never_fire() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(3);
    let rd = e.start(Event::read(k).persist(), 'r', ms(75)).unwrap();
    let other = e.start(Event::timer(), 'o', ms(75)).unwrap();
    e.start(Event::timer(), 'c', ms(25)).unwrap();
    sim.schedule(40, Action::SetReady(k, Ready::READ)).unwrap();
    e.loop_exit(ms(200)).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        seen.push((f.datum, f.ready, ev.now()));
        if f.datum == 'c' {
            ev.remove_timeout(rd).unwrap();
            ev.del(other).unwrap();
        }
        if f.datum == 'r' {
            ev.del(rd).unwrap();
        }
    })
    .unwrap();
    assert_eq!(
        seen,
        vec![('c', Ready::TIMEOUT, 25), ('r', Ready::READ, 40)]
    );
}

/// EL30
#[test]
fn event_deleted_by_an_earlier_callback_of_the_same_pass_does_not_fire() {
    let mut e = engine();
    let mut sim = S::new(1);
    let _a = e.start(Event::timer(), 'a', ms(5)).unwrap();
    let b = e.start(Event::timer(), 'b', ms(5)).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        seen.push(f.datum);
        if f.datum == 'a' {
            ev.del(b).unwrap();
        }
    })
    .unwrap();
    assert_eq!(seen, vec!['a']);
    // Also when freed, and for IO readiness fed in the same turn.
    let (x, y) = (SourceKey(1), SourceKey(2));
    let ex = e.start(Event::read(x), 'x', None).unwrap();
    let ey = e.start(Event::read(y), 'y', None).unwrap();
    sim.set_ready(x, Ready::READ).unwrap();
    sim.set_ready(y, Ready::READ).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::NoWait, &mut |ev, f| {
        seen.push(f.datum);
        let victim = if f.datum == 'x' { ey } else { ex };
        ev.free(victim).unwrap();
    })
    .unwrap();
    assert_eq!(seen.len(), 1);
}

/// EL31
#[test]
fn event_freeing_itself_or_re_adding_itself_inside_its_callback() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::timer().persist(), 'f', ms(10)).unwrap();
    e.start(Event::timer(), 'r', ms(10)).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::Default, &mut |ev, f| {
        seen.push((f.datum, ev.now()));
        match f.datum {
            'f' => {
                assert_eq!(ev.free(f.id), Ok('f'));
                assert_eq!(ev.free(f.id), Err(IdError::Stale));
            }
            _ if seen.len() < 3 => ev.add(f.id, ms(25)).unwrap(),
            _ => {}
        }
    })
    .unwrap();
    assert_eq!(seen, vec![('f', 10), ('r', 10), ('r', 35)]);
}

/// EL32
#[test]
fn pending_reports_what_each_event_waits_for_and_when() {
    let mut e = engine();
    let k = SourceKey(2);
    let rd = e.start(Event::read(k), (), None).unwrap();
    let tm = e.start(Event::timer(), (), ms(500)).unwrap();
    let wr = e.create(Event::write(k), ()).unwrap();
    assert!(e.pending(rd).unwrap().ready.contains(Ready::READ));
    assert!(!e.pending(wr).unwrap().ready.contains(Ready::WRITE));
    assert!(!e.pending(rd).unwrap().ready.contains(Ready::WRITE));
    let p = e.pending(tm).unwrap();
    assert!(p.ready.contains(Ready::TIMEOUT));
    assert_eq!(p.deadline, Some(e.now() + 500));
}

/// EL33
#[test]
fn read_and_write_events_on_one_source_are_both_delivered() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(6);
    e.start(Event::read(k).persist(), 'r', None).unwrap();
    let w = e.start(Event::write(k).persist(), 'w', None).unwrap();
    sim.set_ready(k, Ready::WRITE).unwrap();
    assert_eq!(run_nowait(&mut e, &mut sim), vec!['w']);
    assert_eq!(
        sim.registration(k),
        Some((Interest::READ | Interest::WRITE, false))
    );
    e.del(w).unwrap();
    sim.set_ready(k, Ready::READ).unwrap();
    assert_eq!(run_nowait(&mut e, &mut sim), vec!['r']);
    assert_eq!(sim.registration(k), Some((Interest::READ, false)));
}

fn run_nowait<T: Copy>(e: &mut Eng<T>, sim: &mut Sim<64>) -> Vec<T> {
    let mut v = vec![];
    e.run(sim, Mode::NoWait, &mut |_, f| v.push(f.datum))
        .unwrap();
    v
}

/// EL34, on the simulation host: end of file arrives as readability, never as a timeout.
#[test]
fn end_of_file_arrives_as_readability_not_as_timeout() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(8);
    e.start(Event::read(k), 'r', ms(100)).unwrap();
    sim.schedule(10, Action::SetReady(k, Ready::READ | Ready::CLOSED))
        .unwrap();
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![('r', Ready::READ, 10)]);
}

/// EL36
#[test]
fn closed_interest_fires_on_peer_close_once_or_while_persistent() {
    let mut e = engine();
    let mut sim = S::new(1);
    let k = SourceKey(4);
    e.start(Event::io(k, Interest::CLOSED), 'c', None).unwrap();
    sim.set_ready(k, Ready::READ | Ready::CLOSED).unwrap();
    assert_eq!(run_nowait(&mut e, &mut sim), vec!['c']);
    assert_eq!(
        e.run(&mut sim, Mode::NoWait, &mut |_, _| {}),
        Ok(Exit::Empty)
    );
    let p = e
        .start(Event::io(k, Interest::CLOSED).persist(), 'p', None)
        .unwrap();
    for _ in 0..3 {
        assert_eq!(run_nowait(&mut e, &mut sim), vec!['p']);
    }
    e.free(p).unwrap();
}

/// EL37
#[test]
fn edge_triggered_read_fires_once_per_edge_level_triggered_while_ready() {
    for (edge, expected) in [(true, 1), (false, 2)] {
        let mut e = engine();
        let mut sim = S::new(1);
        let k = SourceKey(3);
        let ev = if edge {
            Event::read(k).persist().edge()
        } else {
            Event::read(k).persist()
        };
        e.start(ev, (), None).unwrap();
        sim.set_ready(k, Ready::READ | Ready::CLOSED).unwrap();
        let mut n = 0;
        for _ in 0..2 {
            e.run(&mut sim, Mode::NoWait, &mut |_, _| n += 1).unwrap();
        }
        assert_eq!(n, expected, "edge {edge}");
        assert_eq!(sim.registration(k), Some((Interest::READ, edge)));
    }
}

/// EL38
#[test]
fn edge_and_level_events_cannot_share_a_source() {
    let mut e = engine::<u8>();
    let k = SourceKey(3);
    let et = e.start(Event::read(k).edge(), 1, None).unwrap();
    let lt = e.create(Event::read(k), 2).unwrap();
    assert_eq!(e.add(lt, None), Err(AddError::EdgeMismatch));
    assert!(!e.pending(lt).unwrap().added);
    e.del(et).unwrap();
    assert_eq!(e.add(lt, None), Ok(()));
    assert_eq!(e.add(et, None), Err(AddError::EdgeMismatch));
}

/// EL39
#[test]
fn signal_events_fire_per_delivery_and_the_last_delete_restores_the_handler() {
    let mut e = engine();
    let mut sim = S::new(1);
    let a = e.start(Event::signal(10).persist(), 'a', None).unwrap();
    let b = e.start(Event::signal(10).persist(), 'b', None).unwrap();
    e.start(Event::timer(), 't', ms(5)).unwrap();
    let mut seen = vec![];
    e.run(&mut sim, Mode::Once, &mut |_, f| {
        seen.push((f.datum, f.count))
    })
    .unwrap();
    assert!(sim.is_catching(10));
    sim.raise(10);
    sim.raise(10);
    e.run(&mut sim, Mode::NoWait, &mut |_, f| {
        seen.push((f.datum, f.count))
    })
    .unwrap();
    seen.sort();
    assert_eq!(seen, vec![('a', 2), ('b', 2), ('t', 1)]);
    e.del(a).unwrap();
    e.run(&mut sim, Mode::NoWait, &mut |_, _| {}).unwrap();
    assert!(sim.is_catching(10));
    e.del(b).unwrap();
    let mut changes = vec![];
    while let Some(c) = Dispatcher::next_change(&mut *e) {
        changes.push(c);
    }
    assert_eq!(
        changes,
        vec![Change::Signal {
            signo: 10,
            watch: false
        }]
    );
}

/// EL40
#[test]
fn signal_arriving_before_dispatch_is_delivered_not_lost() {
    let mut e = engine();
    let mut sim = S::new(1);
    e.start(Event::signal(2), 'i', None).unwrap();
    e.start(Event::timer(), 't', ms(10)).unwrap();
    sim.schedule(3, Action::Signal(2)).unwrap();
    let (t, _) = trace(&mut e, &mut sim);
    assert_eq!(t, vec![('i', Ready::SIGNAL, 3), ('t', Ready::TIMEOUT, 10)]);
}

/// EL41
#[test]
fn seventy_sources_ready_at_once_each_fire_once() {
    let mut e = engine();
    let mut sim = Sim::<160>::new(3).shuffle(true);
    for k in 0..70usize {
        e.start(Event::read(SourceKey(1000 + k)), k, None).unwrap();
        e.start(Event::write(SourceKey(2000 + k)), 100 + k, None)
            .unwrap();
        sim.set_ready(SourceKey(1000 + k), Ready::READ).unwrap();
        sim.set_ready(SourceKey(2000 + k), Ready::WRITE).unwrap();
    }
    let mut seen = vec![];
    let exit = e
        .run(&mut sim, Mode::Default, &mut |_, f| seen.push(f.datum))
        .unwrap();
    seen.sort();
    assert_eq!(seen, (0..70).chain(100..170).collect::<Vec<_>>());
    assert_eq!(exit, Exit::Empty);
}

/// A host that never blocks (an async task's) yields: the loop returns `None` with `Exit::Done`
/// when nothing became active, keeps its events, and fires them when called again after the
/// caller's wait; `loop_exit` still ends it.
#[test]
fn yielding_host_returns_control_to_the_caller_and_keeps_loop_semantics() {
    use levent_core::{Attached, Change, Clock, Feed, Host, HostError, Turn, Wait};
    struct Yielding {
        now: Tick,
        asked: Vec<Wait>,
    }
    impl Host for Yielding {
        fn clock(&self) -> Option<Clock> {
            None
        }
        fn apply(&mut self, _: Change) -> Result<(), HostError> {
            Ok(())
        }
        fn wait(&mut self, wait: Wait, _: &mut dyn Feed) -> Result<Turn, HostError> {
            self.asked.push(wait);
            Ok(if wait == Wait::No {
                Turn::Waited
            } else {
                Turn::Yielded
            })
        }
        fn now(&mut self) -> Tick {
            self.now
        }
        fn attach(&mut self, _: Attached) -> Result<(), HostError> {
            Err(HostError::Capacity)
        }
    }
    let mut e = engine();
    let mut host = Yielding {
        now: 0,
        asked: vec![],
    };
    e.start(Event::timer(), 'a', ms(30)).unwrap();
    assert_eq!(e.next(&mut host).unwrap(), None);
    assert_eq!(e.last_exit(), Some(Exit::Done));
    assert_eq!(host.asked, [Wait::Until(30)]);
    assert!(e.is_alive());
    // The caller waited until the deadline it was given.
    host.now = 30;
    let f = e.next(&mut host).unwrap().unwrap();
    assert_eq!((f.datum, f.ready, e.now()), ('a', Ready::TIMEOUT, 30));
    e.start(Event::timer(), 'b', ms(10)).unwrap();
    e.loop_exit(None).unwrap();
    assert_eq!(e.next(&mut host).unwrap(), None);
    assert_eq!(e.last_exit(), Some(Exit::Exit));
    // `run` yields the same way.
    let exit = e.run(&mut host, Mode::Default, &mut |_, _| {}).unwrap();
    assert_eq!(exit, Exit::Done);
}

/// What a turn costs when nothing waits on time: the host's clock is checked once per host, not
/// at every turn, and an idle turn reads no clock; the time the engine hands out and counts new
/// timeouts from is still the clock's.
#[test]
fn idle_turns_read_no_clock_and_the_clock_check_runs_once_per_host() {
    use levent_core::{Attached, Clock, Feed, Host, HostError, Turn, Wait};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    static TIME: AtomicU64 = AtomicU64::new(0);
    static READS: AtomicUsize = AtomicUsize::new(0);
    fn read() -> Tick {
        READS.fetch_add(1, Ordering::Relaxed);
        TIME.load(Ordering::Relaxed)
    }
    const CLOCK: Clock = Clock::new(1000, read);

    /// Counts what the engine asks of it (`clock` takes `&self`: a `Cell`).
    #[derive(Default)]
    struct Counting {
        clock_asks: std::cell::Cell<usize>,
        now_asks: usize,
    }
    impl Host for Counting {
        fn clock(&self) -> Option<Clock> {
            self.clock_asks.set(self.clock_asks.get() + 1);
            Some(CLOCK)
        }
        fn apply(&mut self, _: Change) -> Result<(), HostError> {
            Ok(())
        }
        fn wait(&mut self, _: Wait, _: &mut dyn Feed) -> Result<Turn, HostError> {
            Ok(Turn::Waited)
        }
        fn now(&mut self) -> Tick {
            self.now_asks += 1;
            read()
        }
        fn attach(&mut self, _: Attached) -> Result<(), HostError> {
            Err(HostError::Capacity)
        }
    }

    let mut e: Engine<char, 8, 4, 1> = Engine::new(Platform {
        clock: CLOCK,
        signals: levent_core::Signals::NONE,
    });
    let mut host = Counting::default();
    e.start(Event::read(SourceKey(3)).persist(), 'r', None)
        .unwrap();
    READS.store(0, Ordering::Relaxed);
    for _ in 0..10 {
        e.turn(&mut host, true).unwrap();
    }
    assert_eq!(
        host.clock_asks.get(),
        1,
        "the clock check ran once for this host"
    );
    assert_eq!(host.now_asks, 0, "idle turns asked the host for no time");
    assert_eq!(READS.load(Ordering::Relaxed), 0, "idle turns read no clock");
    // The clock moved while the engine idled: its time follows, and so do new timeouts.
    TIME.store(5_000, Ordering::Relaxed);
    assert_eq!(e.now(), 5_000);
    e.start(Event::timer(), 't', ms(100)).unwrap();
    TIME.store(5_099, Ordering::Relaxed);
    e.turn(&mut host, true).unwrap();
    assert_eq!(e.next_fired(), None, "not before 5,100");
    assert_eq!(
        host.now_asks, 1,
        "with a timeout armed, the turn reads the time"
    );
    TIME.store(5_100, Ordering::Relaxed);
    e.turn(&mut host, true).unwrap();
    assert_eq!(e.next_fired().map(|f| f.datum), Some('t'));
    // Another host is checked again.
    let mut other = Counting::default();
    e.turn(&mut other, false).unwrap();
    assert_eq!(other.clock_asks.get(), 1);
}
