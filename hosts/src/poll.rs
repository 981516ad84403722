//! The portable POSIX `poll(2)` host.
//!
//! The default on no platform, but available everywhere on Unix and forced on Linux with
//! [`Poll::new`] or the `levent_force_poll` cfg (as mio's forced-poll cfg does), so that its tests run
//! here. One `pollfd` per registered source, kept in a vector with a side table from descriptor to
//! slot; changes edit the vector in place (`DEL` swaps the last entry in).
//!
//! `poll` has no edge-triggered mode: edge-triggered events are reported level-triggered, as by
//! libevent's poll backend. Timeouts are milliseconds, rounded up. Wake-ups come through a pipe.

use crate::unix::{self, SignalSet};
use levent_core::{
    Attached, Change, Clock, Feed, Host, HostError, Interest, NotifierSlot, Ready, Tick, Token,
    Turn, Wait, Waker,
};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A host on `poll(2)`. See the [module documentation](self).
pub struct Poll {
    /// First, so it is dropped first: the waker is cleared before the descriptors it writes to
    /// close.
    notifier: NotifierSlot,
    /// `fds[0]` is the wake pipe, `fds[1]` the signal pipe (or -1); sources follow.
    fds: Vec<libc::pollfd>,
    tokens: Vec<Token>,
    slots: HashMap<RawFd, usize>,
    wake_read: OwnedFd,
    wake_write: OwnedFd,
    batch: Vec<(Token, Ready)>,
    signals: SignalSet,
}

const FIXED: usize = 2;

fn mask(i: Interest) -> libc::c_short {
    let mut m = 0;
    if i.contains(Interest::READ) {
        m |= libc::POLLIN;
    }
    if i.contains(Interest::WRITE) {
        m |= libc::POLLOUT;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if i.contains(Interest::CLOSED) {
        m |= libc::POLLRDHUP;
    }
    m
}

fn readiness(revents: libc::c_short) -> Ready {
    let mut r = Ready::NONE;
    if revents & libc::POLLIN != 0 {
        r |= Ready::READ;
    }
    if revents & libc::POLLOUT != 0 {
        r |= Ready::WRITE;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if revents & libc::POLLRDHUP != 0 {
        r |= Ready::READ | Ready::CLOSED;
    }
    if revents & libc::POLLHUP != 0 {
        r |= Ready::READ | Ready::WRITE | Ready::CLOSED;
    }
    if revents & libc::POLLERR != 0 {
        r |= Ready::READ | Ready::WRITE;
    }
    r
}

fn wake_pipe(fd: usize) {
    unix::poke(fd as RawFd);
}

impl Poll {
    /// A new poll host with its wake-up pipe.
    pub fn new() -> io::Result<Self> {
        let (wake_read, wake_write) = unix::pipe()?;
        let fixed = [
            libc::pollfd {
                fd: wake_read.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: -1,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        Ok(Poll {
            fds: fixed.to_vec(),
            tokens: vec![Token(0); FIXED],
            slots: HashMap::new(),
            wake_read,
            wake_write,
            batch: Vec::new(),
            signals: SignalSet::new(),
            notifier: NotifierSlot::default(),
        })
    }
}

impl Poll {
    fn remove(&mut self, i: usize) {
        let fd = self.fds[i].fd;
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        self.slots.remove(&fd);
        if let Some(moved) = self.fds.get(i) {
            self.slots.insert(moved.fd, i);
        }
    }
}

impl Host for Poll {
    fn clock(&self) -> Option<Clock> {
        Some(crate::clock::CLOCK)
    }

    fn now(&mut self) -> Tick {
        crate::clock::now()
    }

    fn wait(&mut self, wait: Wait, d: &mut dyn Feed) -> Result<Turn, HostError> {
        let wait = if self.notifier.due() && self.notifier.drain(d) > 0 {
            Wait::No
        } else {
            wait
        };
        if wait == Wait::Forever
            && self.fds.len() == FIXED
            && !self.signals.any()
            && self.notifier.get().is_none()
        {
            return Ok(Turn::Never);
        }
        let timeout = unix::millis(unix::remaining(wait));
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timeout,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(unix::host_error(&e));
            }
        }
        self.batch.clear();
        let (mut signalled, mut woken) = (false, false);
        if n > 0 {
            woken = self.fds[0].revents != 0;
            signalled = self.fds[1].revents != 0;
            let mut i = FIXED;
            while i < self.fds.len() {
                let pfd = self.fds[i];
                if pfd.revents & libc::POLLNVAL != 0 {
                    // Closed without a deregistration: drop it (see the host contract).
                    self.remove(i);
                    continue;
                }
                if pfd.revents != 0 {
                    self.batch.push((self.tokens[i], readiness(pfd.revents)));
                }
                i += 1;
            }
        }
        d.feed_io(&self.batch);
        if woken {
            unix::drain(self.wake_read.as_raw_fd());
            self.notifier.drain(d);
        }
        if signalled {
            self.signals.feed(d);
        }
        Ok(Turn::Waited)
    }

    fn apply(&mut self, change: Change) -> Result<(), HostError> {
        match change {
            Change::Io {
                key, token, new, ..
            } => {
                let fd = key.0 as RawFd;
                match (self.slots.get(&fd).copied(), new.is_empty()) {
                    // Only the registration this change is about: a descriptor number reused
                    // since carries another token.
                    (Some(i), true) if self.tokens[i] == token => self.remove(i),
                    (Some(_), true) => {}
                    (Some(i), false) => {
                        self.fds[i].events = mask(new);
                        self.tokens[i] = token;
                    }
                    (None, false) => {
                        self.slots.insert(fd, self.fds.len());
                        self.fds.push(libc::pollfd {
                            fd,
                            events: mask(new),
                            revents: 0,
                        });
                        self.tokens.push(token);
                    }
                    (None, true) => {}
                }
            }
            Change::Signal { signo, watch } => {
                if watch {
                    self.signals
                        .watch(signo)
                        .map_err(|e| unix::host_error(&e))?;
                    self.fds[1].fd = self.signals.pipe().unwrap_or(-1);
                } else {
                    self.signals.unwatch(signo);
                }
            }
        }
        Ok(())
    }

    fn attach(&mut self, notifier: Attached) -> Result<(), HostError> {
        let waker = Waker {
            wake: wake_pipe,
            context: self.wake_write.as_raw_fd() as usize,
        };
        self.notifier.install(notifier, Some(waker));
        Ok(())
    }
}
