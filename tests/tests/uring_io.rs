//! Stream IO on the io_uring host's ring (`Uring::sockets`): reads from the provided buffers,
//! queued writes, the end of a stream, errors of queued writes, closing with bytes queued,
//! back-pressure, and a turn that queues more than the submission ring holds. The connection, HTTP and DNS suites also run on it (`*_uring.rs`, module
//! `ring_io`).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use levent_core::io::{Accept, IoError, Transport};
use levent_core::{Event, Interest, Ready};
use levent_hosts::net::{ListenOptions, SocketId, Sockets};
use levent_hosts::uring::Uring;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

type Engine = levent_hosts::Engine<u8, 16, 16>;

fn setup() -> (Uring, Sockets, Engine) {
    let mut host = Uring::new().unwrap();
    let io = host.sockets().unwrap();
    (host, io, levent_hosts::engine())
}

/// A socket pair whose second end has a persistent read event (datum 1), registered.
fn reading_pair(host: &mut Uring, io: &mut Sockets, engine: &mut Engine) -> (SocketId, SocketId) {
    let (a, b) = io.pair().unwrap();
    engine
        .start(Event::read(io.source(b)).persist(), 1, None)
        .unwrap();
    engine.turn(host, false).unwrap();
    (a, b)
}

/// Turn until `id`'s event fires with readiness containing `want`, for at most 5 s.
fn wait_for(engine: &mut Engine, host: &mut Uring, datum: u8, want: Ready) -> Ready {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        engine.turn(host, false).unwrap();
        while let Some(f) = engine.next_fired() {
            if f.datum == datum && f.ready.contains(want) {
                return f.ready;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("event {datum} never became {want:?}");
}

/// Read everything `h` holds now (until `WouldBlock`), turning the host between reads until
/// `len` bytes or the end came.
fn read_all(
    engine: &mut Engine,
    host: &mut Uring,
    io: &mut Sockets,
    h: SocketId,
    len: usize,
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    let end = Instant::now() + Duration::from_secs(10);
    while got.len() < len && Instant::now() < end {
        match io.read(h, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(IoError::WouldBlock) => {
                engine.turn(host, false).unwrap();
                while engine.next_fired().is_some() {}
            }
            Err(e) => panic!("read failed: {e:?}"),
        }
    }
    got
}

#[test]
fn a_write_is_queued_and_read_from_the_ring_after_readiness() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = reading_pair(&mut host, &mut io, &mut engine);
    // Queued, not sent yet: nothing to read before the host's next turn.
    assert_eq!(io.write(a, b"ping").unwrap(), 4);
    let mut buf = [0u8; 16];
    assert_eq!(io.read(b, &mut buf), Err(IoError::WouldBlock));
    assert_eq!(
        wait_for(&mut engine, &mut host, 1, Ready::READ),
        Ready::READ
    );
    // A read smaller than the chunk, then the rest, then nothing.
    assert_eq!(io.read(b, &mut buf[..2]).unwrap(), 2);
    assert_eq!(io.read(b, &mut buf[2..]).unwrap(), 2);
    assert_eq!(&buf[..4], b"ping");
    assert_eq!(io.read(b, &mut buf), Err(IoError::WouldBlock));
}

#[test]
fn a_large_write_is_taken_in_part_and_every_byte_arrives_in_order() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = io.pair().unwrap();
    engine
        .start(Event::read(io.source(b)).persist(), 1, None)
        .unwrap();
    engine
        .start(Event::write(io.source(a)).persist(), 2, None)
        .unwrap();
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = vec![0u8; 10_000];
    let end = Instant::now() + Duration::from_secs(20);
    let mut partial = false;
    while got.len() < data.len() && Instant::now() < end {
        engine.turn(&mut host, true).unwrap();
        while let Some(f) = engine.next_fired() {
            match f.datum {
                2 if sent < data.len() => match io.write(a, &data[sent..]) {
                    Ok(n) => {
                        partial |= n < data.len() - sent;
                        sent += n;
                    }
                    Err(IoError::WouldBlock) => {}
                    Err(e) => panic!("write failed: {e:?}"),
                },
                1 => loop {
                    match io.read(b, &mut buf) {
                        Ok(0) => panic!("end of stream before all bytes"),
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(IoError::WouldBlock) => break,
                        Err(e) => panic!("read failed: {e:?}"),
                    }
                },
                _ => {}
            }
        }
    }
    assert!(
        partial,
        "a 1 MB write must be taken in part (64 KiB are queued at most)"
    );
    assert_eq!(got.len(), data.len());
    assert!(got == data, "bytes arrived out of order or changed");
}

#[test]
fn the_peer_closing_reads_as_the_end_and_closed_readiness() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = io.pair().unwrap();
    engine
        .start(
            Event::io(io.source(b), Interest::READ | Interest::CLOSED).persist(),
            1,
            None,
        )
        .unwrap();
    engine.turn(&mut host, false).unwrap();
    io.write(a, b"last words").unwrap();
    // Closed with the bytes still queued: they are sent first, then the end.
    io.close(&mut engine, a);
    let ready = wait_for(&mut engine, &mut host, 1, Ready::CLOSED);
    assert!(ready.contains(Ready::READ));
    assert_eq!(
        read_all(&mut engine, &mut host, &mut io, b, 100),
        b"last words"
    );
    assert_eq!(io.read(b, &mut [0u8; 8]), Ok(0));
}

#[test]
fn shutdown_write_waits_for_the_queue() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = reading_pair(&mut host, &mut io, &mut engine);
    let data = vec![b'x'; 60_000];
    assert_eq!(io.write(a, &data).unwrap(), data.len());
    io.shutdown_write(a).unwrap();
    assert_eq!(io.write(a, b"more"), Err(IoError::BrokenPipe));
    let got = read_all(&mut engine, &mut host, &mut io, b, data.len() + 1);
    assert_eq!(got.len(), data.len());
    assert_eq!(io.read(b, &mut [0u8; 8]), Ok(0));
}

#[test]
fn a_queued_write_to_a_reset_peer_fails_at_the_next_write() {
    let (mut host, mut io, mut engine) = setup();
    let l = io
        .listen("127.0.0.1:0".parse().unwrap(), ListenOptions::default())
        .unwrap();
    let mut peer = std::net::TcpStream::connect(io.local_addr(l).unwrap()).unwrap();
    let s = loop {
        match io.accept(l) {
            Ok(s) => break s,
            Err(IoError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("accept failed: {e:?}"),
        }
    };
    engine
        .start(Event::write(io.source(s)).persist(), 2, None)
        .unwrap();
    peer.write_all(b"x").unwrap();
    let peer = levent_hosts::net::Socket::from(peer);
    peer.set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    // The first write is accepted for sending; its send meets the reset.
    let end = Instant::now() + Duration::from_secs(5);
    let error = loop {
        assert!(Instant::now() < end, "the reset never reached the writer");
        match io.write(s, b"hello") {
            Ok(_) | Err(IoError::WouldBlock) => {
                engine.turn(&mut host, false).unwrap();
                while engine.next_fired().is_some() {}
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(error, IoError::Reset | IoError::BrokenPipe),
        "{error:?}"
    );
    // It stays: every later write says so too.
    assert_eq!(io.write(s, b"again"), Err(error));
}

#[test]
fn a_reader_that_stops_reading_holds_the_writer_back() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = io.pair().unwrap();
    // b wants to read but never does; a writes as long as it may.
    engine
        .start(Event::read(io.source(b)).persist(), 1, None)
        .unwrap();
    let chunk = [b'z'; 4096];
    let mut sent = 0usize;
    let mut blocked = 0;
    for _ in 0..2_000 {
        match io.write(a, &chunk) {
            Ok(n) => sent += n,
            Err(IoError::WouldBlock) => blocked += 1,
            Err(e) => panic!("write failed: {e:?}"),
        }
        engine.turn(&mut host, false).unwrap();
        while engine.next_fired().is_some() {}
    }
    assert!(blocked > 0, "the writer was never held back");
    // What the reader holds (8 chunks at most), the kernel's buffers and the 64 KiB queue.
    assert!(
        sent < 4 << 20,
        "{sent} bytes went into a reader that does not read"
    );
    // Once it reads, everything arrives.
    let got = read_all(&mut engine, &mut host, &mut io, b, sent);
    assert_eq!(got.len(), sent);
}

#[test]
fn a_stream_with_work_in_flight_is_not_taken_until_it_is_done() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = io.pair().unwrap();
    io.write(a, b"queued").unwrap();
    let e = io.take(&mut engine, a).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    engine.turn(&mut host, false).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let socket = loop {
        match io.take(&mut engine, a) {
            Ok(s) => break s,
            Err(_) if Instant::now() < end => engine.turn(&mut host, false).map(drop).unwrap(),
            Err(e) => panic!("never taken: {e}"),
        }
    };
    // b has no read interest, so no receive: a plain read gets the bytes.
    let mut buf = [0u8; 16];
    let n = loop {
        match io.read(b, &mut buf) {
            Err(IoError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            r => break r.unwrap(),
        }
    };
    assert_eq!(&buf[..n], b"queued");
    (&socket).write_all(b"plain").unwrap();
    let mut s = socket;
    let _ = s.read(&mut [0u8; 1]);
}

#[test]
fn dropping_the_host_with_receives_and_sends_in_flight_is_safe() {
    for _ in 0..20 {
        let (mut host, mut io, mut engine) = setup();
        let mut pairs = Vec::new();
        for i in 0..8u8 {
            let (a, b) = io.pair().unwrap();
            engine
                .start(Event::read(io.source(b)).persist(), i, None)
                .unwrap();
            pairs.push((a, b));
        }
        engine.turn(&mut host, false).unwrap();
        for &(a, _) in &pairs {
            io.write(a, &[1u8; 30_000]).unwrap();
        }
        engine.turn(&mut host, false).unwrap();
        drop(host);
        // The table outlives its host: its streams still close cleanly.
        for (a, b) in pairs {
            io.close(&mut engine, a);
            io.close(&mut engine, b);
        }
    }
}

#[test]
fn streams_without_read_interest_give_the_shared_buffers_back() {
    let mut host = Uring::new().unwrap();
    let mut io = host.sockets().unwrap();
    let mut engine: levent_hosts::Engine<u16, 512, 512> = levent_hosts::engine();
    // 160 streams, each sent 32 KiB: more than the 1024 buffers of 4 KiB can hold at 8 each.
    let mut pairs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..160u16 {
        let (a, b) = io.pair().unwrap();
        ids.push(
            engine
                .start(Event::read(io.source(b)).persist(), i, None)
                .unwrap(),
        );
        pairs.push((a, b));
    }
    engine.turn(&mut host, false).unwrap();
    let data: Vec<u8> = (0..32 * 1024u32).map(|i| (i % 253) as u8).collect();
    for &(a, _) in &pairs {
        assert_eq!(io.write(a, &data).unwrap(), data.len());
    }
    for _ in 0..50 {
        engine.turn(&mut host, false).unwrap();
        while engine.next_fired().is_some() {}
    }
    // Nobody reads; then nobody wants to (a connection past its read limit).
    for id in ids {
        engine.del(id).unwrap();
    }
    engine.turn(&mut host, false).unwrap();
    // A new stream still receives.
    let (c, d) = io.pair().unwrap();
    engine
        .start(Event::read(io.source(d)).persist(), 999, None)
        .unwrap();
    engine.turn(&mut host, false).unwrap();
    io.write(c, b"fresh").unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut got = false;
    while !got && Instant::now() < end {
        engine.turn(&mut host, false).unwrap();
        while let Some(f) = engine.next_fired() {
            got |= f.datum == 999;
        }
    }
    assert!(
        got,
        "the new stream never became readable: the buffers stayed held"
    );
    let mut buf = [0u8; 16];
    assert_eq!(io.read(d, &mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"fresh");
    // Every other stream still has its 32 KiB, in order.
    for &(_, b) in &pairs {
        let mut all = Vec::new();
        let mut chunk = [0u8; 8192];
        while all.len() < data.len() {
            match io.read(b, &mut chunk) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(IoError::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("read failed: {e:?}"),
            }
        }
        assert!(all == data, "a stream's bytes changed or were lost");
    }
}

#[test]
fn a_dropped_table_leaves_its_descriptor_numbers_to_plain_sockets() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = reading_pair(&mut host, &mut io, &mut engine);
    let (fa, fb) = (io.source(a), io.source(b));
    io.write(a, b"queued").unwrap();
    drop(io);
    // The engine still has b's event; the program forgets it, as after a close.
    use levent_core::Dispatcher;
    engine.forget_source(fb);
    engine.turn(&mut host, false).unwrap();
    engine.turn(&mut host, false).unwrap();
    // Plain sockets now get those descriptor numbers, and the host polls them.
    let mut plain = Sockets::new();
    let mut reused = false;
    let mut pairs = Vec::new();
    for _ in 0..4 {
        let (c, d) = plain.pair().unwrap();
        reused |= [plain.source(c), plain.source(d)]
            .iter()
            .any(|k| *k == fa || *k == fb);
        pairs.push((c, d));
    }
    assert!(
        reused,
        "the ring still holds the dropped table's descriptors"
    );
    for (k, &(_, d)) in pairs.iter().enumerate() {
        engine
            .start(Event::read(plain.source(d)).persist(), 10 + k as u8, None)
            .unwrap();
    }
    for &(c, _) in &pairs {
        plain.write(c, b"x").unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let end = Instant::now() + Duration::from_secs(5);
    while seen.len() < pairs.len() && Instant::now() < end {
        engine.turn(&mut host, false).unwrap();
        while let Some(f) = engine.next_fired() {
            seen.insert(f.datum);
        }
    }
    assert_eq!(
        seen.len(),
        pairs.len(),
        "a plain socket on a reused number was never polled"
    );
    // And its bytes are in its socket, not taken by a receive of the ring.
    for &(_, d) in &pairs {
        let mut buf = [0u8; 4];
        assert_eq!(plain.read(d, &mut buf), Ok(1));
        assert_eq!(buf[0], b'x');
    }
}

// DESIGN.md: a host may be made on one thread and run on another (the ring is not set up
// single-issuer), and so it may move between turns.

#[test]
fn a_host_made_on_one_thread_runs_on_another() {
    // Made, and its socket table too, on this thread; its first turn is on the other one.
    let (mut host, mut io, mut engine) = setup();
    std::thread::spawn(move || {
        let (a, b) = reading_pair(&mut host, &mut io, &mut engine);
        io.write(a, b"ping").unwrap();
        wait_for(&mut engine, &mut host, 1, Ready::READ);
        let mut buf = [0u8; 16];
        assert_eq!(io.read(b, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
    })
    .join()
    .unwrap();
}

#[test]
fn a_host_moved_between_turns_goes_on_and_drops_cleanly_on_its_new_thread() {
    let (mut host, mut io, mut engine) = setup();
    let (a, b) = reading_pair(&mut host, &mut io, &mut engine);
    io.write(a, &[7u8; 30_000]).unwrap();
    engine.turn(&mut host, false).unwrap();
    std::thread::spawn(move || {
        let got = read_all(&mut engine, &mut host, &mut io, b, 30_000);
        assert_eq!(got, vec![7u8; 30_000]);
        // Dropped here, on the new thread, with a receive in flight and a send queued.
        io.write(a, &[8u8; 30_000]).unwrap();
        engine.turn(&mut host, false).unwrap();
        drop(host);
        io.close(&mut engine, a);
        io.close(&mut engine, b);
    })
    .join()
    .unwrap();
}

/// More requests than the submission ring holds (1,024 entries), queued in one turn: a send on
/// each of 1,200 streams. The host submits the full ring and goes on; every byte arrives.
#[test]
fn more_sends_in_one_turn_than_the_submission_ring_holds_all_go_out() {
    const PAIRS: usize = 1200;
    let needed = 2 * PAIRS as u64 + 256;
    let limit = levent_hosts::unix::raise_fd_limit(needed).unwrap();
    if limit < needed {
        eprintln!("skipped: the descriptor limit is {limit}, and the test needs {needed} open");
        return;
    }
    let mut host = Uring::new().unwrap();
    let mut io = host.sockets().unwrap();
    let mut engine: levent_hosts::Engine<u16, 2048> = levent_hosts::engine();
    let mut pairs = Vec::new();
    for i in 0..PAIRS {
        let (a, b) = io.pair().unwrap();
        engine
            .start(Event::read(io.source(b)).persist(), i as u16, None)
            .unwrap();
        pairs.push((a, b));
    }
    engine.turn(&mut host, false).unwrap();
    // Every stream's receive is in the kernel now; one turn's worth of sends is queued.
    for (i, &(a, _)) in pairs.iter().enumerate() {
        assert_eq!(io.write(a, &[i as u8, (i >> 8) as u8]).unwrap(), 2);
    }
    let mut got = vec![false; PAIRS];
    let mut buf = [0u8; 16];
    let end = Instant::now() + Duration::from_secs(20);
    while got.iter().any(|g| !g) && Instant::now() < end {
        engine.turn(&mut host, false).unwrap();
        while let Some(f) = engine.next_fired() {
            let i = usize::from(f.datum);
            let n = io.read(pairs[i].1, &mut buf).unwrap();
            assert_eq!(&buf[..n], &[i as u8, (i >> 8) as u8], "stream {i}");
            got[i] = true;
        }
    }
    let missing = got.iter().filter(|g| !**g).count();
    assert_eq!(missing, 0, "{missing} of {PAIRS} streams got nothing");
}
