//! The host conformance scenarios: the behaviours of `shared/corpora/eventloop/behaviours.json`
//! that involve real IO, signals, wake-ups and time, written once against [`World`]. Each function
//! names its behaviour; the corpus id is in its doc comment.

use crate::World;
use levent_core::Host;
use levent_core::{AddError, Engine, Event, Exit, Fired, Interest, Notifier, Ready, SourceKey};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Eng<T> = Engine<T, 512, 512, 4, levent_hosts::Heap>;

fn engine<T: Copy, W: World>(w: &W) -> Box<Eng<T>> {
    Box::new(Eng::new(w.platform()))
}

/// A loop that can never hang a test: it ends after 20 seconds whatever happens.
fn guard<T: Copy>(e: &mut Eng<T>) {
    e.loop_exit(Some(Duration::from_secs(20))).unwrap();
}

fn next<T: Copy, W: World>(e: &mut Eng<T>, w: &mut W) -> Option<Fired<T>> {
    e.next(w.host()).unwrap()
}

/// One non-blocking pass: everything that is ready now.
fn nowait<T: Copy, W: World>(e: &mut Eng<T>, w: &mut W) -> Vec<Fired<T>> {
    e.turn(w.host(), false).unwrap();
    std::iter::from_fn(|| e.next_fired()).collect()
}

fn drain<W: World>(w: &mut W, key: SourceKey) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        match w.read(key, &mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return total,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// EL24
pub fn one_shot_read_on_a_socket_that_stays_readable_fires_once<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    w.write(b, b"x").unwrap();
    e.start(Event::read(a), 1, None).unwrap();
    let mut n = 0;
    for _ in 0..4 {
        for _ in nowait(&mut e, &mut w) {
            n += 1;
            w.write(b, b"more").unwrap();
        }
    }
    assert_eq!(n, 1);
}

/// EL25
pub fn persistent_read_fires_for_each_readiness_until_deleted<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    let id = e.start(Event::read(a).persist(), 1, None).unwrap();
    guard(&mut e);
    for _ in 0..5 {
        w.write(b, b"data").unwrap();
        let f = next(&mut e, &mut w).unwrap();
        assert!(f.ready.contains(Ready::READ));
        assert_eq!(drain(&mut w, a), 4);
    }
    e.del(id).unwrap();
    w.write(b, b"data").unwrap();
    assert!(nowait(&mut e, &mut w).is_empty());
}

/// EL26
pub fn one_shot_events_re_adding_each_other_fire_once_each<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    let (c, d) = w.pair();
    let ea = e.start(Event::read(a), 0, None).unwrap();
    let ec = e.start(Event::read(c), 1, None).unwrap();
    w.write(b, b"1").unwrap();
    w.write(d, b"2").unwrap();
    let ids = [ea, ec];
    let keys = [a, c];
    e.turn(w.host(), false).unwrap();
    let mut order = vec![];
    while let Some(f) = e.next_fired() {
        order.push(f.datum as usize);
        drain(&mut w, keys[f.datum as usize]);
        e.add(ids[1 - f.datum as usize], None).unwrap();
    }
    assert_eq!(order.len(), 2, "both fire once: {order:?}");
    let (first, second) = (order[0], order[1]);
    assert!(
        e.pending(ids[first]).unwrap().added,
        "re-added last, stays added"
    );
    assert!(
        !e.pending(ids[second]).unwrap().added,
        "fired after its re-add"
    );
}

/// EL27
pub fn once_read_fires_exactly_once<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    w.write(b, b"x").unwrap();
    e.once(Event::read(a), 7, None).unwrap();
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!((f.datum, f.ready), (7, Ready::READ));
    assert!(next(&mut e, &mut w).is_none());
    assert_eq!((e.last_exit(), e.len()), (Some(Exit::Empty), 0));
}

/// EL30
pub fn event_deleted_by_an_earlier_callback_of_the_same_pass_does_not_fire<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    let (c, d) = w.pair();
    let ids = [
        e.start(Event::read(a).persist(), 0, None).unwrap(),
        e.start(Event::read(c).persist(), 1, None).unwrap(),
    ];
    w.write(b, b"x").unwrap();
    w.write(d, b"y").unwrap();
    e.turn(w.host(), false).unwrap();
    let mut fired = 0;
    while let Some(f) = e.next_fired() {
        fired += 1;
        e.del(ids[1 - f.datum as usize]).unwrap();
    }
    assert_eq!(fired, 1);
}

/// EL33
pub fn read_and_write_events_on_one_descriptor_are_both_delivered<W: World>() {
    let mut w = W::new();
    let mut e = engine::<char, W>(&w);
    let (a, b) = w.pair();
    e.start(Event::read(a).persist(), 'r', None).unwrap();
    let wr = e.start(Event::write(a).persist(), 'w', None).unwrap();
    let first: Vec<char> = nowait(&mut e, &mut w).iter().map(|f| f.datum).collect();
    assert_eq!(first, vec!['w']);
    e.del(wr).unwrap();
    w.write(b, b"x").unwrap();
    let second: Vec<char> = nowait(&mut e, &mut w).iter().map(|f| f.datum).collect();
    assert_eq!(second, vec!['r']);
}

/// EL34
pub fn end_of_file_arrives_as_readability_not_as_timeout<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    w.write(b, b"test string\0").unwrap();
    w.shutdown_write(b);
    let id = e
        .start(Event::read(a), 0, Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!(f.ready & Ready::TIMEOUT, Ready::NONE);
    assert_eq!(w.read(a, &mut buf).unwrap(), 12);
    e.add(id, Some(Duration::from_secs(10))).unwrap();
    let f = next(&mut e, &mut w).unwrap();
    assert!(
        f.ready.contains(Ready::READ) && !f.ready.contains(Ready::TIMEOUT),
        "{:?}",
        f.ready
    );
    assert_eq!(w.read(a, &mut buf).unwrap(), 0, "end of file");
}

/// EL35
pub fn writing_to_a_closed_peer_reports_an_error_and_does_not_kill<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    w.close(&mut *e, b);
    e.start(Event::write(a).persist(), 0, None).unwrap();
    guard(&mut e);
    let mut calls = 0;
    let err = loop {
        let f = next(&mut e, &mut w).unwrap();
        assert!(f.ready.contains(Ready::WRITE));
        calls += 1;
        match w.write(a, b"are you there?") {
            Ok(_) => assert!(calls < 100, "writes keep succeeding"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
}

/// EL36
pub fn closed_interest_fires_when_the_peer_closes<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, b) = w.pair();
    e.start(Event::io(a, Interest::CLOSED), 0, None).unwrap();
    assert!(
        nowait(&mut e, &mut w).is_empty(),
        "nothing before the peer closes"
    );
    w.close(&mut *e, b);
    let f = next(&mut e, &mut w).unwrap();
    assert!(f.ready.contains(Ready::CLOSED), "{:?}", f.ready);
    assert!(next(&mut e, &mut w).is_none());
    assert_eq!(e.last_exit(), Some(Exit::Empty));
}

/// EL37
pub fn edge_triggered_read_fires_once_level_triggered_twice<W: World>() {
    let mut w = W::new();
    if !w.edge_triggered() {
        return;
    }
    for (edge, expected) in [(true, 1), (false, 2)] {
        let mut e = engine::<u8, W>(&w);
        let (a, b) = w.pair();
        w.write(b, b"x").unwrap();
        w.shutdown_write(b);
        let ev = if edge {
            Event::read(a).persist().edge()
        } else {
            Event::read(a).persist()
        };
        e.start(ev, 0, None).unwrap();
        let n = nowait(&mut e, &mut w).len() + nowait(&mut e, &mut w).len();
        assert_eq!(n, expected, "edge {edge}");
    }
}

/// EL38
pub fn edge_and_level_events_cannot_share_a_descriptor<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (a, _b) = w.pair();
    let et = e.start(Event::read(a).edge(), 0, None).unwrap();
    let lt = e.create(Event::read(a), 1).unwrap();
    assert_eq!(e.add(lt, None), Err(AddError::EdgeMismatch));
    e.del(et).unwrap();
    assert_eq!(e.add(lt, None), Ok(()));
}

/// EL39
pub fn signal_events_fire_per_delivery_and_the_last_delete_restores_the_handler<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let sig = w.signal(0);
    let x = e.start(Event::signal(sig).persist(), 0, None).unwrap();
    let y = e.start(Event::signal(sig).persist(), 1, None).unwrap();
    w.host().sync(&mut *e).unwrap();
    assert!(w.catching(sig));
    guard(&mut e);
    // One delivery at a time: a second one raised while the first is still pending may merge
    // with it (POSIX signals do not queue, and wine turns a console event into a SIGINT).
    let mut counts = [0u32; 2];
    for delivery in 1..=2 {
        w.raise(sig);
        while counts != [delivery, delivery] {
            let f = next(&mut e, &mut w).unwrap();
            assert_eq!(f.ready, Ready::SIGNAL);
            counts[f.datum as usize] += f.count;
            assert!(counts[f.datum as usize] <= delivery, "{counts:?}");
        }
    }
    e.del(x).unwrap();
    w.host().sync(&mut *e).unwrap();
    assert!(w.catching(sig), "one event still watches it");
    e.del(y).unwrap();
    w.host().sync(&mut *e).unwrap();
    assert!(!w.catching(sig), "the previous disposition is back");
}

/// EL40
pub fn signal_raised_before_dispatch_is_delivered_not_lost<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let sig = w.signal(1);
    e.start(Event::signal(sig), 0, None).unwrap();
    w.host().sync(&mut *e).unwrap();
    w.raise(sig);
    guard(&mut e);
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!((f.ready, f.count), (Ready::SIGNAL, 1));
}

/// EL41
pub fn seventy_socket_pairs_ready_at_once_each_fire_once<W: World>() {
    let mut w = W::new();
    let mut e = engine::<usize, W>(&w);
    for i in 0..70 {
        let (a, b) = w.pair();
        w.write(b, b"x").unwrap();
        e.start(Event::read(a), i, None).unwrap();
        e.start(Event::write(b), 100 + i, None).unwrap();
    }
    let mut seen = vec![];
    while let Some(f) = next(&mut e, &mut w) {
        seen.push(f.datum);
    }
    seen.sort();
    assert_eq!(seen, (0..70).chain(100..170).collect::<Vec<_>>());
}

/// Closed and reused descriptors never get each other's events.
pub fn closed_and_reused_descriptor_never_gets_the_old_events<W: World>() {
    // Other tests of this process open descriptors on other threads and may take the freed number
    // first (for good: a signal self-pipe is never closed), so the scenario starts over with a
    // new number until it gets its own back.
    for _ in 0..20 {
        if reused_descriptor_scenario::<W>() {
            return;
        }
    }
    panic!("the new descriptor never reused the number");
}

/// Returns false when the new pair did not get the closed number.
fn reused_descriptor_scenario<W: World>() -> bool {
    let mut w = W::new();
    let mut e = engine::<&str, W>(&w);
    let (a, b) = w.pair();
    let old = e.start(Event::read(a).persist(), "old", None).unwrap();
    w.write(b, b"for the old one").unwrap();
    e.turn(w.host(), false).unwrap();
    // Its readiness is queued; the descriptor is closed before the pass delivers it.
    w.close(&mut *e, a);
    w.close(&mut *e, b);
    let (c, d) = w.pair();
    if c != a {
        return false;
    }
    let new = e.start(Event::read(c).persist(), "new", None).unwrap();
    assert!(
        e.next_fired().is_none(),
        "the old event's queued readiness is gone"
    );
    assert!(!e.pending(old).unwrap().added);
    assert!(
        nowait(&mut e, &mut w).is_empty(),
        "nothing to read yet on the new one"
    );
    w.write(d, b"for the new one").unwrap();
    let fired = nowait(&mut e, &mut w);
    assert_eq!(
        fired.iter().map(|f| (f.id, f.datum)).collect::<Vec<_>>(),
        vec![(new, "new")]
    );
    true
}

/// A descriptor closed the way a `Transport` closes it (the engine told, the host not) and its
/// number reused by a socket nobody watches: the host drops the old registration when it drains
/// the change list, so the new socket's readiness neither fires the old event nor keeps the host
/// from blocking.
pub fn descriptor_closed_without_telling_the_host_neither_fires_nor_spins<W: World>() {
    let mut w = W::new();
    let mut e = engine::<&str, W>(&w);
    let (a, b) = w.pair();
    let old = e.start(Event::read(a).persist(), "old", None).unwrap();
    e.turn(w.host(), false).unwrap();
    w.close_unannounced(&mut *e, a);
    w.close(&mut *e, b);
    // Probably the same numbers again; readable, and watched by no event.
    let (c, d) = w.pair();
    w.write(d, b"unwatched").unwrap();
    let _ = c;
    e.start(Event::timer(), "timer", Some(Duration::from_millis(100)))
        .unwrap();
    let mut turns = 0;
    loop {
        e.turn(w.host(), true).unwrap();
        turns += 1;
        if let Some(f) = e.next_fired() {
            assert_eq!(f.datum, "timer");
            break;
        }
        assert!(
            turns < 50,
            "the host keeps waking up for a socket nobody watches"
        );
    }
    assert!(!e.pending(old).unwrap().added);
}

/// A Notifier wakes a blocked host from another thread.
pub fn wake_up_from_another_thread_activates_a_user_event<W: World>() {
    let mut w = W::new();
    let mut e = engine::<&str, W>(&w);
    let notifier = Arc::new(Notifier::<4>::new());
    w.attach(notifier.clone().into());
    let id = e.start(Event::user().persist(), "woken", None).unwrap();
    guard(&mut e);
    let n = notifier.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        n.notify(id).unwrap();
    });
    if w.virtual_time() {
        t.join().unwrap();
        let f = next(&mut e, &mut w).unwrap();
        assert_eq!((f.datum, f.ready), ("woken", Ready::USER));
    } else {
        let start = Instant::now();
        let f = next(&mut e, &mut w).unwrap();
        assert_eq!((f.datum, f.ready), ("woken", Ready::USER));
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "woken by the notifier, not the guard"
        );
        t.join().unwrap();
    }
}

/// Ids a Notifier queued before it was attached (nothing could wake the host for them) fire at
/// the first turn after the attach, without waiting for another wake-up.
pub fn ids_queued_before_the_attach_fire_at_the_first_turn<W: World>() {
    let mut w = W::new();
    let mut e = engine::<&str, W>(&w);
    let notifier = Arc::new(Notifier::<4>::new());
    let id = e.start(Event::user().persist(), "early", None).unwrap();
    notifier.notify(id).unwrap();
    w.attach(notifier.into());
    guard(&mut e);
    let start = Instant::now();
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!((f.datum, f.ready), ("early", Ready::USER));
    assert!(
        w.virtual_time() || start.elapsed() < Duration::from_secs(15),
        "fed at once, not after the guard"
    );
}

/// A notification sent from the loop's own thread, between two turns, ends the next wait.
pub fn a_notification_from_the_loop_thread_ends_the_next_wait<W: World>() {
    let mut w = W::new();
    let mut e = engine::<&str, W>(&w);
    let notifier = Arc::new(Notifier::<4>::new());
    w.attach(notifier.clone().into());
    let id = e.start(Event::user().persist(), "self", None).unwrap();
    guard(&mut e);
    for _ in 0..3 {
        notifier.notify(id).unwrap();
        let start = Instant::now();
        let f = next(&mut e, &mut w).unwrap();
        assert_eq!((f.datum, f.ready), ("self", Ready::USER));
        assert!(
            w.virtual_time() || start.elapsed() < Duration::from_secs(15),
            "woken by the notifier, not the guard"
        );
    }
}

/// A turn with nothing waiting on time skips the clock, yet the engine's time is never older
/// than the turn: after an idle turn and a pause, `now` has moved on and a new timeout counts
/// from the moment it was added.
pub fn idle_turns_hand_out_fresh_time<W: World>() {
    let mut w = W::new();
    if w.virtual_time() {
        return;
    }
    let mut e = engine::<char, W>(&w);
    let (a, _b) = w.pair();
    e.start(Event::read(a).persist(), 'r', None).unwrap();
    assert!(nowait(&mut e, &mut w).is_empty());
    let before = e.now();
    std::thread::sleep(Duration::from_millis(60));
    let hz = w.platform().clock.hz();
    let moved = e.now() - before;
    assert!(
        moved >= hz * 60 / 1000,
        "now moved {moved} ticks in 60 ms at {hz} Hz"
    );
    let added = Instant::now();
    e.start(Event::timer(), 't', Some(Duration::from_millis(100)))
        .unwrap();
    guard(&mut e);
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!(f.datum, 't');
    assert!(
        added.elapsed() >= Duration::from_millis(100),
        "fired {:?} after it was added",
        added.elapsed()
    );
}

/// Interest changes and deletions inside callbacks take effect at once.
pub fn interest_changes_and_deletions_inside_callbacks_take_effect<W: World>() {
    let mut w = W::new();
    let mut e = engine::<char, W>(&w);
    let (a, b) = w.pair();
    e.start(Event::read(a).persist(), 'r', None).unwrap();
    let wr = e.create(Event::write(a), 'w').unwrap();
    guard(&mut e);
    let (mut reads, mut writes) = (0, 0);
    for _ in 0..50 {
        w.write(b, b"ping").unwrap();
        loop {
            let f = next(&mut e, &mut w).unwrap();
            match f.datum {
                'r' => {
                    reads += 1;
                    drain(&mut w, a);
                    e.add(wr, None).unwrap();
                }
                _ => {
                    writes += 1;
                    w.write(a, b"pong").unwrap();
                    break;
                }
            }
        }
        assert_eq!(drain(&mut w, b), 4);
    }
    assert_eq!((reads, writes), (50, 50));
    assert!(
        !e.pending(wr).unwrap().added,
        "the one-shot write event removed itself"
    );
    assert!(nowait(&mut e, &mut w).is_empty());
}

/// A pipe reports the data, then end of file once its writer is closed.
pub fn pipe_end_of_file_after_the_writer_closes<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let (r, wr) = w.pipe();
    e.start(Event::read(r).persist(), 0, None).unwrap();
    w.write(wr, b"abc").unwrap();
    w.close(&mut *e, wr);
    guard(&mut e);
    let mut buf = [0u8; 8];
    next(&mut e, &mut w).unwrap();
    assert_eq!(w.read(r, &mut buf).unwrap(), 3);
    let f = next(&mut e, &mut w).unwrap();
    assert!(f.ready.contains(Ready::READ));
    assert_eq!(w.read(r, &mut buf).unwrap(), 0);
}

/// EL01, against the host's clock.
pub fn timer_never_fires_before_its_timeout<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let t = Duration::from_millis(30);
    let start = Instant::now();
    let begin = e.now();
    e.start(Event::timer(), 0, Some(t)).unwrap();
    let f = next(&mut e, &mut w).unwrap();
    assert_eq!(f.ready, Ready::TIMEOUT);
    let ticks = e.now() - begin;
    assert!(ticks >= 30_000_000, "fired after {ticks} ns");
    if !w.virtual_time() {
        assert!(start.elapsed() >= t);
    }
    assert!(next(&mut e, &mut w).is_none());
}

/// A persistent 1.5 ms timer: no firing early (a rounded-down wait), no busy loop (a zero wait
/// for a sub-millisecond remainder).
pub fn sub_millisecond_timeouts_neither_fire_early_nor_spin<W: World>() {
    let mut w = W::new();
    let mut e = engine::<u8, W>(&w);
    let period = Duration::from_micros(1500);
    let begin = e.now();
    e.start(Event::timer().persist(), 0, Some(period)).unwrap();
    let (mut fired, mut turns) = (0u64, 0u64);
    while fired < 20 {
        e.turn(w.host(), true).unwrap();
        turns += 1;
        while let Some(f) = e.next_fired() {
            assert_eq!(f.ready, Ready::TIMEOUT);
            fired += 1;
            let elapsed = e.now() - begin;
            assert!(
                elapsed >= fired * 1_500_000,
                "firing {fired} after only {elapsed} ns"
            );
        }
    }
    assert!(
        turns < 200,
        "{turns} turns for 20 firings: the host is spinning"
    );
}
