//! A `Connection` over a transport that buffers by itself, as a TLS layer does: input it has
//! taken from the socket (so no readiness will come for it again) is reported by
//! `Transport::buffered`, and bytes of its own (handshake records) wait for `Transport::flush`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use levent_core::io::{IoError, Transport};
use levent_core::sim::Sim;
use levent_core::{
    Attached, Change, Clock, ConnOptions, Connection, Dispatcher, Engine, Feed, Host, HostError,
    Platform, Ready, RingBuffer, SourceKey, Tick, Turn, Wait,
};
use std::collections::VecDeque;

const S: SourceKey = SourceKey(1);

/// One connection's socket with a layer on it that holds what it read.
struct Held {
    sim: Sim<8>,
    /// Input the layer took from the socket and has not handed out.
    held: VecDeque<u8>,
    /// Bytes the layer queued by itself.
    queued: Vec<u8>,
    /// Whether the socket takes the queued bytes now.
    room: bool,
    /// What went out on the socket.
    wire: Vec<u8>,
    reads: usize,
}

impl Held {
    fn new() -> Self {
        Held {
            sim: Sim::new(1),
            held: VecDeque::new(),
            queued: Vec::new(),
            room: true,
            wire: Vec::new(),
            reads: 0,
        }
    }
}

impl Host for Held {
    fn clock(&self) -> Option<Clock> {
        self.sim.clock()
    }
    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        Host::apply(&mut self.sim, change)
    }
    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        self.sim.wait(wait, feed)
    }
    fn now(&mut self) -> Tick {
        self.sim.now()
    }
    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        self.sim.attach(notifier)
    }
}

impl Transport for Held {
    type Handle = SourceKey;
    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }
    fn read(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<usize, IoError> {
        // The layer drained the socket at the first read: no readiness comes again.
        self.sim.clear_ready(h, Ready::READ);
        self.reads += 1;
        if self.held.is_empty() {
            return Err(IoError::WouldBlock);
        }
        let n = buf.len().min(self.held.len());
        for (slot, b) in buf.iter_mut().zip(self.held.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
    fn write(&mut self, _: SourceKey, buf: &[u8]) -> Result<usize, IoError> {
        self.wire.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn shutdown_write(&mut self, _: SourceKey) -> Result<(), IoError> {
        Ok(())
    }
    fn connected(&mut self, _: SourceKey) -> Result<(), IoError> {
        Ok(())
    }
    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        if let Some(change) = d.forget_source(h) {
            let _ = self.sim.apply(change);
        }
    }
    fn buffered(&mut self, _: SourceKey) -> bool {
        !self.held.is_empty()
    }
    fn flush(&mut self, h: SourceKey) -> Result<bool, IoError> {
        if self.queued.is_empty() {
            return Ok(true);
        }
        if !self.room {
            self.sim.clear_ready(h, Ready::WRITE);
            return Ok(false);
        }
        self.wire.append(&mut self.queued);
        Ok(true)
    }
}

fn pattern(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

#[test]
fn a_connection_paused_at_its_high_watermark_reads_what_the_transport_holds_when_it_resumes() {
    let mut world = Held::new();
    world.held = (0..10_000).map(pattern).collect();
    let mut engine: Engine<(), 8, 4, 1> = Engine::new(Platform::manual(1000));
    let opts = ConnOptions {
        read_high: 512,
        ..ConnOptions::DEFAULT
    };
    let (input, output) = (RingBuffer::<1024>::new(), RingBuffer::<1024>::new());
    let mut conn = Connection::new(&mut engine, &world, S, input, output, opts, ()).unwrap();
    world.sim.set_ready(S, Ready::READ).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 100];
    for _ in 0..1000 {
        let Some(fired) = engine.next(&mut world).unwrap() else {
            break;
        };
        let out = conn.handle(&mut engine, &mut world, &fired);
        assert!(out.error().is_none());
        // Take a little at a time: the input stays near its high watermark.
        let n = conn.read(&mut engine, &mut buf);
        got.extend_from_slice(&buf[..n]);
        if got.len() == 10_000 {
            break;
        }
    }
    // What is left in the connection's input needs no event.
    loop {
        let n = conn.read(&mut engine, &mut buf);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        got.len(),
        10_000,
        "the held input stalled after {} bytes",
        got.len()
    );
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    // Everything after the first read came from the transport's own buffer.
    assert!(world.reads > 1);
}

#[test]
fn bytes_the_transport_queued_go_out_once_the_socket_is_writable_again() {
    let mut world = Held::new();
    world.queued = b"handshake".to_vec();
    world.room = false;
    let mut engine: Engine<(), 8, 4, 1> = Engine::new(Platform::manual(1000));
    let (input, output) = (RingBuffer::<64>::new(), RingBuffer::<64>::new());
    let mut conn = Connection::new(
        &mut engine,
        &world,
        S,
        input,
        output,
        ConnOptions::DEFAULT,
        (),
    )
    .unwrap();
    conn.write(&mut engine, &mut world, b"data");
    assert_eq!(world.wire, b"data");
    assert_eq!(world.queued, b"handshake", "no room yet");
    // The socket drains: writable again, and the connection flushes the transport's bytes.
    world.room = true;
    world.sim.set_ready(S, Ready::WRITE).unwrap();
    for _ in 0..10 {
        let Some(fired) = engine.next(&mut world).unwrap() else {
            break;
        };
        let _ = conn.handle(&mut engine, &mut world, &fired);
        if world.queued.is_empty() {
            break;
        }
    }
    assert_eq!(world.wire, b"datahandshake");
}
