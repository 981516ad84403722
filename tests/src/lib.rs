//! levent's cross-crate acceptance tests.
//!
//! [`World`] is what a conformance scenario needs from a host: create pipes and socket pairs, read,
//! write, shut down, close, raise signals, let time pass. It is implemented for every backend of
//! `levent-hosts` (`OsWorld` over epoll, kqueue and poll, `SelectWorld` over Windows' select,
//! [`SimWorld`] over the simulated network), and the scenarios in [`conformance`] are written once
//! against it; `tests/conformance_*.rs` run them on each backend with [`conformance_suite!`], one
//! test per behaviour. Where a backend cannot do something the scenarios ask the world
//! ([`World::edge_triggered`], [`World::signal`]) rather than the platform.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

pub mod conformance;
pub mod dns;
pub mod http;
pub mod net;

use levent_core::{Attached, Dispatcher, Host, Platform, SourceKey};
use levent_hosts::sim::SimNet;
use std::io;
use std::time::Duration;

/// What the conformance scenarios need from a backend.
pub trait World: Sized {
    /// The host under test.
    type Host: Host;
    /// A fresh world.
    fn new() -> Self;
    /// The host.
    fn host(&mut self) -> &mut Self::Host;
    /// What an engine on this host must know.
    fn platform(&self) -> Platform;
    /// A connected pair of non-blocking stream sockets.
    fn pair(&mut self) -> (SourceKey, SourceKey);
    /// A non-blocking pipe: `(read end, write end)`.
    fn pipe(&mut self) -> (SourceKey, SourceKey);
    /// Write without blocking.
    fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize>;
    /// Read without blocking.
    fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize>;
    /// Shut down the writing side.
    fn shutdown_write(&mut self, key: SourceKey);
    /// Deregister from `d`, then close.
    fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey);
    /// Close as a `Transport` does: tell the engine (`forget_source`) but not the host, which
    /// learns of it from the change list at its next turn.
    fn close_unannounced(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        let _ = d.forget_source(key);
        self.drop_descriptor(key);
    }
    /// Close the descriptor without telling anyone.
    fn drop_descriptor(&mut self, key: SourceKey);
    /// A signal number scenario slot `n` (0 or 1) may watch and [`raise`](World::raise).
    ///
    /// Scenarios run on parallel threads of one process, and a signal reaches every host of the
    /// process that watches it. Where the platform can raise two signals the slots get different
    /// ones (`SIGUSR1` and `SIGUSR2` on Unix); where it can raise only one (Ctrl-C on Windows),
    /// both slots get it and the world makes the scenarios that ask take turns: it holds a
    /// process-wide lock from this call until it is dropped.
    fn signal(&mut self, n: usize) -> i32;
    /// Deliver `signo` to the process (or the simulation).
    fn raise(&mut self, signo: i32);
    /// Whether the process (or simulation) currently catches `signo` for levent.
    fn catching(&mut self, signo: i32) -> bool;
    /// Let time pass outside the loop.
    fn sleep(&mut self, d: Duration);
    /// Whether the backend honours edge-triggered events (poll does not).
    fn edge_triggered(&self) -> bool;
    /// Whether time is virtual (exact timing assertions hold).
    fn virtual_time(&self) -> bool;
    /// Attach a notifier.
    fn attach(&mut self, n: Attached) {
        self.host().attach(n).unwrap();
    }
}

/// A world on a real OS backend: descriptors are real, time is real.
#[cfg(unix)]
pub struct OsWorld<H> {
    host: H,
    fds: std::collections::HashMap<usize, Fd>,
}

#[cfg(unix)]
enum Fd {
    Stream(std::os::unix::net::UnixStream),
    File(std::fs::File),
}

#[cfg(unix)]
impl<H: Host> OsWorld<H> {
    fn with(host: H) -> Self {
        OsWorld {
            host,
            fds: Default::default(),
        }
    }

    fn add(&mut self, fd: Fd) -> SourceKey {
        use std::os::fd::AsRawFd;
        let raw = match &fd {
            Fd::Stream(s) => s.as_raw_fd(),
            Fd::File(f) => f.as_raw_fd(),
        };
        self.fds.insert(raw as usize, fd);
        SourceKey(raw as usize)
    }

    fn fd(&self, key: SourceKey) -> io::Result<&Fd> {
        self.fds
            .get(&key.0)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }

    fn os_pair(&mut self) -> (SourceKey, SourceKey) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (self.add(Fd::Stream(a)), self.add(Fd::Stream(b)))
    }

    fn os_pipe(&mut self) -> (SourceKey, SourceKey) {
        let (r, w) = levent_hosts::unix::pipe().unwrap();
        (self.add(Fd::File(r.into())), self.add(Fd::File(w.into())))
    }

    fn os_write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        match self.fd(key)? {
            Fd::Stream(s) => (&*s).write(data),
            Fd::File(f) => (&*f).write(data),
        }
    }

    fn os_read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        match self.fd(key)? {
            Fd::Stream(s) => (&*s).read(buf),
            Fd::File(f) => (&*f).read(buf),
        }
    }

    fn os_shutdown(&mut self, key: SourceKey) {
        if let Ok(Fd::Stream(s)) = self.fd(key) {
            s.shutdown(std::net::Shutdown::Write).unwrap();
        }
    }

    fn os_close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        self.host.forget(d, key);
        self.fds.remove(&key.0);
    }
}

#[cfg(unix)]
macro_rules! os_world {
    ($host:ty, $edge:expr, $catching:path) => {
        impl World for OsWorld<$host> {
            type Host = $host;
            fn new() -> Self {
                OsWorld::with(<$host>::new().unwrap())
            }
            fn host(&mut self) -> &mut $host {
                &mut self.host
            }
            fn platform(&self) -> Platform {
                levent_hosts::PLATFORM
            }
            fn pair(&mut self) -> (SourceKey, SourceKey) {
                self.os_pair()
            }
            fn pipe(&mut self) -> (SourceKey, SourceKey) {
                self.os_pipe()
            }
            fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
                self.os_write(key, data)
            }
            fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
                self.os_read(key, buf)
            }
            fn shutdown_write(&mut self, key: SourceKey) {
                self.os_shutdown(key)
            }
            fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
                self.os_close(d, key)
            }
            fn drop_descriptor(&mut self, key: SourceKey) {
                self.fds.remove(&key.0);
            }
            fn signal(&mut self, n: usize) -> i32 {
                [libc::SIGUSR1, libc::SIGUSR2][n]
            }
            fn raise(&mut self, signo: i32) {
                levent_hosts::unix::raise(signo).unwrap();
            }
            fn catching(&mut self, signo: i32) -> bool {
                $catching(signo).unwrap()
            }
            fn sleep(&mut self, d: Duration) {
                std::thread::sleep(d);
            }
            fn edge_triggered(&self) -> bool {
                $edge
            }
            fn virtual_time(&self) -> bool {
                false
            }
        }
    };
}

#[cfg(target_os = "linux")]
os_world!(
    levent_hosts::epoll::Epoll,
    true,
    levent_hosts::unix::catching
);
#[cfg(target_os = "linux")]
os_world!(
    levent_hosts::uring::Uring,
    true,
    levent_hosts::unix::catching
);
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
os_world!(
    levent_hosts::kqueue::Kqueue,
    true,
    levent_hosts::kqueue::catching
);
#[cfg(unix)]
os_world!(
    levent_hosts::poll::Poll,
    false,
    levent_hosts::unix::catching
);

/// A world on Windows' select host: loopback TCP sockets, real time.
///
/// Windows has no socket pairs and no pipes, so [`pair`](World::pair) connects two loopback TCP
/// sockets through a listener the world keeps, and [`pipe`](World::pipe) is such a pair used one
/// way. Its one signal that can be raised is Ctrl-C, delivered through a console of the process's
/// own (see `levent_hosts::select::raise`): wine 8's console does not generate Ctrl-Break.
#[cfg(windows)]
pub struct SelectWorld {
    host: levent_hosts::select::Select,
    listener: std::net::TcpListener,
    streams: std::collections::HashMap<usize, std::net::TcpStream>,
    /// Held while a scenario uses Ctrl-C (see [`World::signal`]); released after the host is
    /// gone, so after it stopped watching.
    ctrl_c: Option<std::sync::MutexGuard<'static, ()>>,
}

#[cfg(windows)]
static CTRL_C: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(windows)]
impl SelectWorld {
    fn stream(&self, key: SourceKey) -> io::Result<&std::net::TcpStream> {
        self.streams
            .get(&key.0)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

#[cfg(windows)]
impl World for SelectWorld {
    type Host = levent_hosts::select::Select;
    fn new() -> Self {
        SelectWorld {
            host: levent_hosts::select::Select::new().unwrap(),
            listener: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            streams: Default::default(),
            ctrl_c: None,
        }
    }
    fn host(&mut self) -> &mut Self::Host {
        &mut self.host
    }
    fn platform(&self) -> Platform {
        levent_hosts::PLATFORM
    }
    fn pair(&mut self) -> (SourceKey, SourceKey) {
        use std::os::windows::io::AsRawSocket;
        let a = std::net::TcpStream::connect(self.listener.local_addr().unwrap()).unwrap();
        let b = loop {
            let (b, from) = self.listener.accept().unwrap();
            // Anyone on this machine may connect to the listener: take our own connection.
            if from == a.local_addr().unwrap() {
                break b;
            }
        };
        let mut keys = [SourceKey(0); 2];
        for (k, s) in keys.iter_mut().zip([a, b]) {
            s.set_nonblocking(true).unwrap();
            s.set_nodelay(true).unwrap();
            *k = SourceKey(s.as_raw_socket() as usize);
            self.streams.insert(k.0, s);
        }
        (keys[0], keys[1])
    }
    fn pipe(&mut self) -> (SourceKey, SourceKey) {
        self.pair()
    }
    fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        let mut s = self.stream(key)?;
        s.write(data)
    }
    fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        let mut s = self.stream(key)?;
        s.read(buf)
    }
    fn shutdown_write(&mut self, key: SourceKey) {
        self.stream(key)
            .unwrap()
            .shutdown(std::net::Shutdown::Write)
            .unwrap();
    }
    fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        self.host.forget(d, key);
        self.streams.remove(&key.0);
    }
    fn drop_descriptor(&mut self, key: SourceKey) {
        self.streams.remove(&key.0);
    }
    fn signal(&mut self, _: usize) -> i32 {
        if self.ctrl_c.is_none() {
            self.ctrl_c = Some(CTRL_C.lock().unwrap_or_else(|e| e.into_inner()));
        }
        levent_hosts::signals::SIGINT
    }
    fn raise(&mut self, signo: i32) {
        levent_hosts::select::raise(signo).unwrap();
    }
    fn catching(&mut self, signo: i32) -> bool {
        levent_hosts::select::catching(signo)
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
    fn edge_triggered(&self) -> bool {
        false
    }
    fn virtual_time(&self) -> bool {
        false
    }
}

/// A world on the simulated network: virtual time, deterministic by seed.
pub struct SimWorld {
    net: SimNet,
}

/// Nanosecond ticks on virtual time, with every signal number, as the real hosts count time.
pub const SIM_PLATFORM: Platform = Platform {
    clock: levent_core::Clock::manual(1_000_000_000),
    signals: levent_core::Signals::range(1, 63),
};

impl World for SimWorld {
    type Host = SimNet;
    fn new() -> Self {
        SimWorld {
            net: SimNet::new(0x5eed),
        }
    }
    fn host(&mut self) -> &mut SimNet {
        &mut self.net
    }
    fn platform(&self) -> Platform {
        SIM_PLATFORM
    }
    fn pair(&mut self) -> (SourceKey, SourceKey) {
        self.net.pair()
    }
    fn pipe(&mut self) -> (SourceKey, SourceKey) {
        self.net.pipe()
    }
    fn write(&mut self, key: SourceKey, data: &[u8]) -> io::Result<usize> {
        self.net.write(key, data)
    }
    fn read(&mut self, key: SourceKey, buf: &mut [u8]) -> io::Result<usize> {
        self.net.read(key, buf)
    }
    fn shutdown_write(&mut self, key: SourceKey) {
        self.net.shutdown_write(key).unwrap();
    }
    fn close(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        self.net.close(d, key).unwrap();
    }
    fn close_unannounced(&mut self, d: &mut dyn Dispatcher, key: SourceKey) {
        // The simulated network is its own host: closing always informs it.
        self.net.close(d, key).unwrap();
    }
    fn drop_descriptor(&mut self, _: SourceKey) {}
    fn signal(&mut self, n: usize) -> i32 {
        // Linux's SIGUSR1 and SIGUSR2; the simulation delivers any number from 1 to 63.
        [10, 12][n]
    }
    fn raise(&mut self, signo: i32) {
        self.net.sim().raise(signo);
    }
    fn catching(&mut self, signo: i32) -> bool {
        self.net.sim().is_catching(signo)
    }
    fn sleep(&mut self, d: Duration) {
        self.net
            .sim()
            .sleep(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }
    fn edge_triggered(&self) -> bool {
        true
    }
    fn virtual_time(&self) -> bool {
        true
    }
}

/// One `#[test]` per conformance scenario, for world type `$world`.
#[macro_export]
macro_rules! conformance_suite {
    ($world:ty) => {
        $crate::conformance_suite!(@tests $world;
            one_shot_read_on_a_socket_that_stays_readable_fires_once,
            persistent_read_fires_for_each_readiness_until_deleted,
            one_shot_events_re_adding_each_other_fire_once_each,
            once_read_fires_exactly_once,
            event_deleted_by_an_earlier_callback_of_the_same_pass_does_not_fire,
            read_and_write_events_on_one_descriptor_are_both_delivered,
            end_of_file_arrives_as_readability_not_as_timeout,
            writing_to_a_closed_peer_reports_an_error_and_does_not_kill,
            closed_interest_fires_when_the_peer_closes,
            edge_triggered_read_fires_once_level_triggered_twice,
            edge_and_level_events_cannot_share_a_descriptor,
            signal_events_fire_per_delivery_and_the_last_delete_restores_the_handler,
            signal_raised_before_dispatch_is_delivered_not_lost,
            seventy_socket_pairs_ready_at_once_each_fire_once,
            closed_and_reused_descriptor_never_gets_the_old_events,
            descriptor_closed_without_telling_the_host_neither_fires_nor_spins,
            wake_up_from_another_thread_activates_a_user_event,
            ids_queued_before_the_attach_fire_at_the_first_turn,
            a_notification_from_the_loop_thread_ends_the_next_wait,
            idle_turns_hand_out_fresh_time,
            interest_changes_and_deletions_inside_callbacks_take_effect,
            pipe_end_of_file_after_the_writer_closes,
            timer_never_fires_before_its_timeout,
            sub_millisecond_timeouts_neither_fire_early_nor_spin,
        );
    };
    (@tests $world:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::$name::<$world>();
            }
        )*
    };
}

/// One `#[test]` per connection scenario, for network world type `$world`; `$clients` and
/// `$messages` size the echo test.
#[macro_export]
macro_rules! connection_suite {
    ($world:ty, $clients:expr, $messages:expr) => {
        #[test]
        fn thousand_clients_hundred_messages_every_byte_returns_in_order() {
            $crate::net::echo_every_byte_returns_in_order::<$world>($clients, $messages);
        }
        $crate::connection_suite!(@tests $world;
            client_that_stops_reading_keeps_server_output_bounded,
            peer_reset_mid_message_leaves_the_server_serving,
            half_close_flushes_then_shuts_down,
            connect_refused_arrives_as_an_error,
            data_written_while_connecting_goes_out_once_connected,
            read_timeout_fires_when_nothing_arrives,
        );
    };
    (@tests $world:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::net::$name::<$world>();
            }
        )*
    };
}
