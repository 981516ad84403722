//! Explore a scenario over many seeds, each seed choosing faults, with proof that they fired.
//!
//! A [`Chaos`] is a [`SimNet`] that misbehaves as a real network and kernel may: short reads
//! and writes, readiness delayed to a later turn or reordered within one, connections reset or
//! half-closed by the peer at any byte, refused connects, accepts failing with `EMFILE`,
//! datagrams lost, duplicated or delayed, the clock jumping forward, timers firing late. Each
//! seed enables some of these [`Fault`]s at rates it draws, and every fault that actually
//! happened is counted ([`Faults`]), so a scenario that asks for faults can show they fired.
//!
//! [`explore`] runs a scenario (a function of the seed that builds its world on a `Chaos` and
//! checks what it must) over many seeds and reports one line per scenario:
//!
//! ```text
//! explored echo: 2500 seeds, 48121 faults fired (short_read=9512, ...), 0 failures
//! ```
//!
//! A failing seed is printed with how to run it alone: `LEVENT_SEED=S` runs exactly that seed
//! (the same faults, the same run), `LEVENT_SEEDS=N` sets how many seeds every scenario runs.
//!
//! ```
//! use levent_core::io::Transport;
//! use levent_hosts::explore::{Chaos, Run, explore};
//!
//! // Bytes written into one end of a pair arrive whole at the other, whatever the reads do.
//! let report = explore("pair", 50, |seed| {
//!     let mut chaos = Chaos::new(seed, 1000);
//!     let (a, b) = chaos.net().pair();
//!     let sent: Vec<u8> = (0..=255).collect();
//!     let (mut at, mut got) = (0, Vec::new());
//!     while got.len() < sent.len() {
//!         if at < sent.len() {
//!             at += chaos.write(a, &sent[at..]).unwrap_or(0);
//!         }
//!         let mut buf = [0u8; 64];
//!         if let Ok(n) = chaos.read(b, &mut buf) {
//!             got.extend_from_slice(&buf[..n]);
//!         }
//!         if chaos.faulted(b) {
//!             break; // reset or half-closed: a prefix is all a peer can expect
//!         }
//!     }
//!     let ok = sent.starts_with(&got) && (chaos.faulted(b) || got == sent);
//!     chaos.finish(ok.then_some(()).ok_or_else(|| format!("got {got:?}")))
//! });
//! assert_eq!(report.failures.len(), 0, "{report}");
//! assert!(report.faults.get(levent_hosts::explore::Fault::ShortRead) > 0);
//! ```

use crate::sim::SimNet;
use levent_core::io::{Accept, Connect, Datagram, IoError, Transport};
use levent_core::{
    Attached, Change, Clock, Dispatcher, EventId, Feed, Host, HostError, Ready, SourceKey, Tick,
    Token, Turn, Wait,
};
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;

/// A kind of fault a [`Chaos`] injects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Fault {
    /// A read returns fewer bytes than were there.
    ShortRead,
    /// A write takes fewer bytes than it was offered.
    ShortWrite,
    /// Readiness is held back to a later turn.
    DelayedReadiness,
    /// The readiness of one turn arrives in another order.
    ReorderedReadiness,
    /// The connection is reset (both ends fail with `Reset`).
    Reset,
    /// The peer shuts down its writing side: this end reads end of file.
    HalfClose,
    /// A connect is refused.
    RefusedConnect,
    /// An accept fails with `EMFILE` ([`IoError::NoDescriptors`]).
    AcceptEmfile,
    /// A datagram is lost.
    DatagramLoss,
    /// A datagram arrives twice.
    DatagramDuplicate,
    /// A datagram arrives late (and so out of order).
    DatagramDelay,
    /// The clock jumps forward (up to a second).
    ClockJump,
    /// A wait with a deadline ends late (up to a tenth of a second): timers fire late.
    LateTimer,
}

impl Fault {
    /// Every kind, in the order reports list them.
    pub const ALL: [Fault; 13] = [
        Fault::ShortRead,
        Fault::ShortWrite,
        Fault::DelayedReadiness,
        Fault::ReorderedReadiness,
        Fault::Reset,
        Fault::HalfClose,
        Fault::RefusedConnect,
        Fault::AcceptEmfile,
        Fault::DatagramLoss,
        Fault::DatagramDuplicate,
        Fault::DatagramDelay,
        Fault::ClockJump,
        Fault::LateTimer,
    ];

    /// The name reports use (`short_read`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Fault::ShortRead => "short_read",
            Fault::ShortWrite => "short_write",
            Fault::DelayedReadiness => "delayed_readiness",
            Fault::ReorderedReadiness => "reordered_readiness",
            Fault::Reset => "reset",
            Fault::HalfClose => "half_close",
            Fault::RefusedConnect => "refused_connect",
            Fault::AcceptEmfile => "accept_emfile",
            Fault::DatagramLoss => "datagram_loss",
            Fault::DatagramDuplicate => "datagram_duplicate",
            Fault::DatagramDelay => "datagram_delay",
            Fault::ClockJump => "clock_jump",
            Fault::LateTimer => "late_timer",
        }
    }

    /// Whether the fault ends or refuses a connection (drawn at lower rates, so that
    /// scenarios still get work done).
    const fn destructive(self) -> bool {
        matches!(
            self,
            Fault::Reset | Fault::HalfClose | Fault::RefusedConnect | Fault::ClockJump
        )
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// How many faults of each kind fired.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Faults([u64; 13]);

impl Faults {
    /// None fired yet.
    pub const fn new() -> Faults {
        Faults([0; 13])
    }

    /// How many of `kind` fired.
    pub fn get(&self, kind: Fault) -> u64 {
        self.0[kind.index()]
    }

    /// How many fired in all.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// These counts and `other`'s.
    pub fn add(&mut self, other: &Faults) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// The kinds that never fired.
    pub fn missing(&self) -> Vec<Fault> {
        Fault::ALL
            .into_iter()
            .filter(|k| self.get(*k) == 0)
            .collect()
    }
}

/// `short_read=3, short_write=0, ...`: every kind, in [`Fault::ALL`]'s order.
impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, k) in Fault::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={}", k.name(), self.get(*k))?;
        }
        Ok(())
    }
}

/// splitmix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n` 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// A number in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }
}

/// A datagram held back by [`Fault::DatagramDelay`].
struct Late {
    due: Tick,
    from: SourceKey,
    to: SocketAddr,
    data: Vec<u8>,
}

/// A simulated network that injects faults, chosen by its seed. It is the host and the
/// transport (streams, listeners, connects, datagrams) at once, as a [`SimNet`] is. See the
/// [module documentation](self).
pub struct Chaos {
    net: SimNet,
    rng: Rng,
    /// Per kind, the chance per opportunity, in millionths.
    rates: [u32; 13],
    fired: Faults,
    hz: u64,
    /// Readiness held back to the next wait.
    held: Vec<(Token, Ready)>,
    late: Vec<Late>,
    faulted: HashSet<SourceKey>,
    calm: bool,
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("rates", &self.rates)
            .field("fired", &self.fired)
            .finish()
    }
}

impl Chaos {
    /// A faulty simulated network for `seed`, whose engines tick at `hz` (clock jumps and late
    /// timers are sized in real time). The seed decides the network's own random choices, which
    /// faults are on, and at what rates.
    pub fn new(seed: u64, hz: u64) -> Chaos {
        Chaos::with_net(SimNet::new(seed), seed, hz)
    }

    /// As [`new`](Self::new), over `net` (a network made with a buffer size of its own).
    pub fn with_net(net: SimNet, seed: u64, hz: u64) -> Chaos {
        let mut rng = Rng(seed ^ 0x6c65_7665_6e74_2121);
        let mut rates = [0u32; 13];
        for k in Fault::ALL {
            // Each kind is on for about two seeds in three, at a rate the seed draws.
            if rng.below(3) == 0 {
                continue;
            }
            let choices: &[u32] = if k.destructive() {
                &[500, 2_000, 10_000]
            } else {
                &[10_000, 50_000, 200_000]
            };
            rates[k.index()] = choices[rng.below(choices.len() as u64) as usize];
        }
        Chaos {
            net,
            rng,
            rates,
            fired: Faults::default(),
            hz: hz.max(1),
            held: Vec::new(),
            late: Vec::new(),
            faulted: HashSet::new(),
            calm: false,
        }
    }

    /// The network underneath: set it up (listen, pair, limits) through this.
    pub fn net(&mut self) -> &mut SimNet {
        &mut self.net
    }

    /// Stop injecting faults (from now on the network behaves), for a scenario's last phase
    /// in which everything in flight must come to its end.
    pub fn calm(&mut self) {
        self.calm = true;
    }

    /// Whether a fault reset or half-closed the connection of `key` (either end).
    pub fn faulted(&self, key: SourceKey) -> bool {
        self.faulted.contains(&key)
    }

    /// The faults that fired so far.
    pub fn fired(&self) -> Faults {
        self.fired
    }

    /// The [`Run`] of a scenario that ends with `result`: these faults, and the failure if any.
    pub fn finish(&self, result: Result<(), String>) -> Run {
        Run {
            faults: self.fired,
            failure: result.err(),
        }
    }

    /// Connect to `port` of the simulated network (as [`SimNet::connect`]), or be refused when
    /// [`Fault::RefusedConnect`] strikes.
    pub fn connect_port(&mut self, port: u16) -> SourceKey {
        if self.roll(Fault::RefusedConnect) {
            self.fire(Fault::RefusedConnect);
            return self.net.refused();
        }
        self.net.connect(port)
    }

    fn roll(&mut self, k: Fault) -> bool {
        !self.calm && self.rng.below(1_000_000) < u64::from(self.rates[k.index()])
    }

    fn fire(&mut self, k: Fault) {
        self.fired.0[k.index()] += 1;
    }

    /// Before a stream read or write on `h`: maybe reset it or half-close it from the peer.
    fn strike(&mut self, h: SourceKey) {
        let Some(peer) = self.net.peer(h) else {
            return;
        };
        if self.roll(Fault::Reset) {
            self.net.reset(h);
            self.faulted.extend([h, peer]);
            self.fire(Fault::Reset);
        } else if !self.faulted.contains(&h)
            && self.roll(Fault::HalfClose)
            && self.net.shutdown_write(peer).is_ok()
        {
            // Once per connection: a second shutdown would change nothing.
            self.faulted.extend([h, peer]);
            self.fire(Fault::HalfClose);
        }
    }

    /// Send the delayed datagrams that are due.
    fn send_late(&mut self) {
        let now = self.net.sim().now();
        let mut i = 0;
        while i < self.late.len() {
            if self.late[i].due <= now {
                let l = self.late.swap_remove(i);
                let _ = self.net.send_to(l.from, &l.data, l.to);
            } else {
                i += 1;
            }
        }
    }
}

/// The outcome of one seed of a scenario.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The faults that fired.
    pub faults: Faults,
    /// Why the run failed, if it did.
    pub failure: Option<String>,
}

/// What [`explore`] found for one scenario.
#[derive(Clone, Debug)]
pub struct Report {
    /// The scenario.
    pub name: String,
    /// The seeds run.
    pub seeds: u64,
    /// The faults fired over all seeds.
    pub faults: Faults,
    /// The seeds that failed, and why.
    pub failures: Vec<(u64, String)>,
}

/// `explored NAME: N seeds, F faults fired (KIND=count, ...), K failures`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "explored {}: {} seeds, {} faults fired ({}), {} failures",
            self.name,
            self.seeds,
            self.faults.total(),
            self.faults,
            self.failures.len()
        )
    }
}

/// The seeds to run: `LEVENT_SEED=S` alone if set, else `0..N` with `N` from `LEVENT_SEEDS`,
/// else `0..default`. A value that is not a number is ignored, with a line on standard error.
pub fn seeds(default: u64) -> Vec<u64> {
    let num = |var: &str| {
        let v = std::env::var(var).ok()?;
        match v.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                eprintln!("{var}={v:?} is not a number: ignored");
                None
            }
        }
    };
    if let Some(s) = num("LEVENT_SEED") {
        return vec![s];
    }
    (0..num("LEVENT_SEEDS").unwrap_or(default)).collect()
}

/// Failing seeds printed one by one; the rest are counted.
const SHOWN: usize = 10;

/// Run `scenario` for every seed of [`seeds`]`(default)`, print the report line, and a line for
/// each failing seed (the first ten) (`explore NAME: seed S failed: WHY; LEVENT_SEED=S runs it alone`). A
/// scenario that panics fails with the panic's message.
pub fn explore(
    name: &str,
    default: u64,
    scenario: impl Fn(u64) -> Run + std::panic::RefUnwindSafe,
) -> Report {
    let mut report = Report {
        name: name.to_string(),
        seeds: 0,
        faults: Faults::default(),
        failures: Vec::new(),
    };
    for seed in seeds(default) {
        report.seeds += 1;
        let run = std::panic::catch_unwind(|| scenario(seed)).unwrap_or_else(|p| Run {
            faults: Faults::default(),
            failure: Some(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
                    .unwrap_or_else(|| "panicked".into()),
            ),
        });
        report.faults.add(&run.faults);
        if let Some(why) = run.failure {
            if report.failures.len() < SHOWN {
                println!(
                    "explore {name}: seed {seed} failed: {why}; LEVENT_SEED={seed} runs it alone"
                );
            }
            report.failures.push((seed, why));
        }
    }
    if report.failures.len() > SHOWN {
        println!(
            "explore {name}: {} more seeds failed",
            report.failures.len() - SHOWN
        );
    }
    println!("{report}");
    report
}

/// Run `scenario` over seeds `0..max` until one fails, for hunting a bug rather than
/// reporting on a scenario: the first failing seed and why, printed as [`explore`] prints a
/// failure; `None` when every seed passed. A panic is a failure.
pub fn first_failure(
    name: &str,
    max: u64,
    scenario: impl Fn(u64) -> Run + std::panic::RefUnwindSafe,
) -> Option<(u64, String)> {
    (0..max).find_map(|seed| {
        let run = std::panic::catch_unwind(|| scenario(seed)).unwrap_or_else(|_| Run {
            faults: Faults::default(),
            failure: Some("panicked".into()),
        });
        let why = run.failure?;
        println!("explore {name}: seed {seed} failed: {why}; LEVENT_SEED={seed} runs it alone");
        Some((seed, why))
    })
}

/// The feed of a faulty wait: readiness is collected, to be held back or reordered.
struct Collect<'a> {
    inner: &'a mut dyn Feed,
    io: Vec<(Token, Ready)>,
}

impl Feed for Collect<'_> {
    fn feed_io(&mut self, batch: &[(Token, Ready)]) {
        self.io.extend_from_slice(batch);
    }
    fn feed_signal(&mut self, signo: i32, count: u32) {
        self.inner.feed_signal(signo, count);
    }
    fn feed_user(&mut self, id: EventId) {
        self.inner.feed_user(id);
    }
}

impl Host for Chaos {
    fn clock(&self) -> Option<Clock> {
        self.net.clock()
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        self.net.apply(change)
    }

    fn wait(&mut self, wait: Wait, feed: &mut dyn Feed) -> Result<Turn, HostError> {
        self.send_late();
        let now = self.net.sim().now();
        let mut wait = wait;
        if let Wait::Until(t) = wait
            && self.roll(Fault::LateTimer)
        {
            wait = Wait::Until(t.saturating_add(self.rng.between(1, self.hz / 10)));
            self.fire(Fault::LateTimer);
        }
        // Held readiness is due now; a delayed datagram by its time.
        if !self.held.is_empty() {
            wait = Wait::No;
        }
        if let Some(due) = self.late.iter().map(|l| l.due).min() {
            wait = match wait {
                Wait::No => Wait::No,
                Wait::Until(t) => Wait::Until(t.min(due)),
                Wait::Forever => Wait::Until(due.max(now)),
            };
        }
        if self.roll(Fault::ClockJump) {
            let jump = self.rng.between(1, self.hz);
            self.net.sim().sleep(jump);
            self.fire(Fault::ClockJump);
        }
        let mut collect = Collect {
            inner: feed,
            io: core::mem::take(&mut self.held),
        };
        let turn = self.net.wait(wait, &mut collect);
        let Collect { inner: feed, io } = collect;
        let turn = match turn {
            Ok(t) => t,
            Err(e) => {
                // Nothing collected is lost: it is fed at the next wait.
                self.held = io;
                return Err(e);
            }
        };
        let mut now_batch = Vec::with_capacity(io.len());
        for entry in io {
            if self.roll(Fault::DelayedReadiness) {
                self.held.push(entry);
                self.fire(Fault::DelayedReadiness);
            } else {
                now_batch.push(entry);
            }
        }
        if now_batch.len() > 1 && self.roll(Fault::ReorderedReadiness) {
            // Fisher-Yates; counted when the order changed.
            let before = now_batch.clone();
            for i in (1..now_batch.len()).rev() {
                let j = self.rng.below(i as u64 + 1) as usize;
                now_batch.swap(i, j);
            }
            if now_batch != before {
                self.fire(Fault::ReorderedReadiness);
            }
        }
        if !now_batch.is_empty() {
            feed.feed_io(&now_batch);
        }
        self.send_late();
        // Readiness held back is still to come: the loop must not end for want of work.
        Ok(if turn == Turn::Never && !self.held.is_empty() {
            Turn::Waited
        } else {
            turn
        })
    }

    fn now(&mut self) -> Tick {
        self.net.now()
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        self.net.attach(notifier)
    }
}

impl Transport for Chaos {
    type Handle = SourceKey;

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn read(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<usize, IoError> {
        self.strike(h);
        if buf.len() > 1 && self.roll(Fault::ShortRead) {
            let limit = self.rng.between(1, buf.len() as u64 - 1) as usize;
            let r = Transport::read(&mut self.net, h, &mut buf[..limit]);
            // A fault when bytes were left behind: the source is still readable then. Its
            // readiness is made new, so that an edge-triggered reader, which may take a short
            // read as drained (as epoll allows), hears of the rest.
            if r == Ok(limit) && self.net.sim().readiness(h).contains(Ready::READ) {
                let _ = self.net.sim().set_ready(h, Ready::READ);
                self.fire(Fault::ShortRead);
            }
            return r;
        }
        Transport::read(&mut self.net, h, buf)
    }

    fn write(&mut self, h: SourceKey, buf: &[u8]) -> Result<usize, IoError> {
        self.strike(h);
        if buf.len() > 1 && self.roll(Fault::ShortWrite) {
            let limit = self.rng.between(1, buf.len() as u64 - 1) as usize;
            let r = Transport::write(&mut self.net, h, &buf[..limit]);
            // A fault when room was left, made known again as for a short read.
            if r == Ok(limit) && self.net.sim().readiness(h).contains(Ready::WRITE) {
                let _ = self.net.sim().set_ready(h, Ready::WRITE);
                self.fire(Fault::ShortWrite);
            }
            return r;
        }
        Transport::write(&mut self.net, h, buf)
    }

    fn shutdown_write(&mut self, h: SourceKey) -> Result<(), IoError> {
        Transport::shutdown_write(&mut self.net, h)
    }

    fn connected(&mut self, h: SourceKey) -> Result<(), IoError> {
        self.net.connected(h)
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        self.faulted.remove(&h);
        Transport::close(&mut self.net, d, h);
    }
}

impl Accept for Chaos {
    fn accept(&mut self, h: SourceKey) -> Result<SourceKey, IoError> {
        if self.roll(Fault::AcceptEmfile) {
            self.fire(Fault::AcceptEmfile);
            return Err(IoError::NoDescriptors);
        }
        self.net.accept(h)
    }
}

impl Connect for Chaos {
    fn connect(&mut self, to: SocketAddr) -> Result<SourceKey, IoError> {
        if self.roll(Fault::RefusedConnect) {
            self.fire(Fault::RefusedConnect);
            return Ok(self.net.refused());
        }
        Connect::connect(&mut self.net, to)
    }
}

impl Datagram for Chaos {
    type Handle = SourceKey;

    fn bind(&mut self, local: SocketAddr) -> Result<SourceKey, IoError> {
        self.net.bind(local)
    }

    fn source(&self, h: SourceKey) -> SourceKey {
        h
    }

    fn local_addr(&self, h: SourceKey) -> Result<SocketAddr, IoError> {
        self.net.local_addr(h)
    }

    fn send_to(&mut self, h: SourceKey, buf: &[u8], to: SocketAddr) -> Result<usize, IoError> {
        if self.roll(Fault::DatagramLoss) {
            self.fire(Fault::DatagramLoss);
            return Ok(buf.len());
        }
        if self.roll(Fault::DatagramDelay) {
            let due = self.net.sim().now() + self.rng.between(1, self.hz / 5);
            self.late.push(Late {
                due,
                from: h,
                to,
                data: buf.to_vec(),
            });
            self.fire(Fault::DatagramDelay);
            return Ok(buf.len());
        }
        let r = self.net.send_to(h, buf, to);
        if r.is_ok() && self.roll(Fault::DatagramDuplicate) {
            let _ = self.net.send_to(h, buf, to);
            self.fire(Fault::DatagramDuplicate);
        }
        r
    }

    fn recv_from(&mut self, h: SourceKey, buf: &mut [u8]) -> Result<(usize, SocketAddr), IoError> {
        self.net.recv_from(h, buf)
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: SourceKey) {
        self.late.retain(|l| l.from != h);
        Datagram::close(&mut self.net, d, h);
    }
}
