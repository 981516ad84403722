//! With the `std` feature: every error type of the core converts into [`std::io::Error`], so `?`
//! works in a `main` that returns `std::io::Result<()>`.
//!
//! The kind says what went wrong in `std`'s terms (a full table is
//! [`OutOfMemory`](io::ErrorKind::OutOfMemory), an OS error keeps its code, a malformed message
//! is [`InvalidData`](io::ErrorKind::InvalidData)), and the levent error travels inside as the
//! source, so its message is what a program prints. Values handed back in an error (the datum of
//! a [`Rejected`]) are dropped in the conversion: match on the error first to keep them.
//!
//! ```
//! use levent_core::{Engine, Event, Platform};
//!
//! fn arm() -> std::io::Result<()> {
//!     let mut engine: Engine<u8, 1, 1, 1> = Engine::new(Platform::manual(1000));
//!     engine.start(Event::timer(), 1, None)?;
//!     engine.start(Event::timer(), 2, None)?; // one slot only
//!     Ok(())
//! }
//! let e = arm().unwrap_err();
//! assert_eq!(e.kind(), std::io::ErrorKind::OutOfMemory);
//! assert_eq!(e.to_string(), "every event slot is in use");
//! ```

use crate::buffer::{BufferFull, LineTooLong};
use crate::conn::{ConnRejected, SetupError};
use crate::error::{AddError, CreateError, IdError, LoopError, PriorityError, Rejected};
use crate::host::HostError;
use crate::io::IoError;
use crate::notify::NotifyFull;
use crate::time::Overflow;
use std::io::{self, ErrorKind};

/// `From<$ty> for io::Error`, with the kind `$kind` computes from the value.
macro_rules! to_io {
    ($ty:ty, |$e:ident| $kind:expr) => {
        impl From<$ty> for io::Error {
            fn from($e: $ty) -> io::Error {
                io::Error::new($kind, $e)
            }
        }
    };
}

impl From<IoError> for io::Error {
    fn from(e: IoError) -> io::Error {
        let kind = match e {
            IoError::WouldBlock => ErrorKind::WouldBlock,
            IoError::Interrupted => ErrorKind::Interrupted,
            IoError::Reset => ErrorKind::ConnectionReset,
            IoError::BrokenPipe => ErrorKind::BrokenPipe,
            IoError::Refused => ErrorKind::ConnectionRefused,
            IoError::Unreachable => ErrorKind::HostUnreachable,
            IoError::TimedOut => ErrorKind::TimedOut,
            IoError::Aborted => ErrorKind::ConnectionAborted,
            IoError::NoDescriptors => ErrorKind::OutOfMemory,
            IoError::AddrInUse => ErrorKind::AddrInUse,
            IoError::Closed | IoError::NotConnected => ErrorKind::NotConnected,
            IoError::Protocol(_) => ErrorKind::InvalidData,
            IoError::Other(code) if code != 0 => return io::Error::from_raw_os_error(code),
            IoError::Other(_) => ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

impl From<HostError> for io::Error {
    fn from(e: HostError) -> io::Error {
        match e {
            HostError::Os(code) => io::Error::from_raw_os_error(code),
            HostError::Capacity => io::Error::new(ErrorKind::OutOfMemory, e),
            HostError::Other(_) => io::Error::other(e),
        }
    }
}

impl From<LoopError> for io::Error {
    fn from(e: LoopError) -> io::Error {
        match e {
            LoopError::Host(h) => h.into(),
            LoopError::ClockMismatch => io::Error::new(ErrorKind::InvalidInput, e),
        }
    }
}

impl From<CreateError> for io::Error {
    fn from(e: CreateError) -> io::Error {
        match e {
            CreateError::Full => io::Error::new(ErrorKind::OutOfMemory, e),
            CreateError::Add(a) => a.into(),
            CreateError::BadPriority | CreateError::BadSignal | CreateError::NoInterest => {
                io::Error::new(ErrorKind::InvalidInput, e)
            }
        }
    }
}

impl<T, H, B> From<ConnRejected<T, H, B>> for io::Error {
    fn from(r: ConnRejected<T, H, B>) -> io::Error {
        r.error.into()
    }
}

impl From<SetupError> for io::Error {
    fn from(e: SetupError) -> io::Error {
        io::Error::new(ErrorKind::InvalidInput, e)
    }
}

impl<T> From<Rejected<T>> for io::Error {
    fn from(r: Rejected<T>) -> io::Error {
        r.error.into()
    }
}

to_io!(AddError, |e| match e {
    AddError::SourcesFull => ErrorKind::OutOfMemory,
    AddError::Id(_) | AddError::Overflow | AddError::EdgeMismatch => ErrorKind::InvalidInput,
});
to_io!(IdError, |e| ErrorKind::InvalidInput);
to_io!(PriorityError, |e| ErrorKind::InvalidInput);
to_io!(Overflow, |e| ErrorKind::InvalidInput);
to_io!(NotifyFull, |e| ErrorKind::OutOfMemory);
to_io!(LineTooLong, |e| ErrorKind::InvalidData);
to_io!(BufferFull, |e| ErrorKind::OutOfMemory);
#[cfg(feature = "sim")]
to_io!(crate::sim::SimFull, |e| ErrorKind::OutOfMemory);

#[cfg(feature = "dns")]
mod dns {
    use super::*;
    use crate::dns::{ConnectError, DecodeError, DnsError, EncodeError, NameError};

    to_io!(DecodeError, |e| ErrorKind::InvalidData);
    to_io!(EncodeError, |e| ErrorKind::InvalidInput);
    to_io!(NameError, |e| ErrorKind::InvalidInput);
    to_io!(DnsError, |e| match e {
        DnsError::Timeout => ErrorKind::TimedOut,
        DnsError::NxDomain | DnsError::NoData => ErrorKind::NotFound,
        DnsError::Malformed => ErrorKind::InvalidData,
        DnsError::Io(io) => io::Error::from(io).kind(),
        _ => ErrorKind::Other,
    });
    to_io!(ConnectError, |e| match e {
        ConnectError::Resolve(r) => io::Error::from(r).kind(),
        ConnectError::Connect(c) => io::Error::from(c).kind(),
        ConnectError::BadName => ErrorKind::InvalidInput,
        ConnectError::Busy => ErrorKind::OutOfMemory,
    });
    to_io!(crate::dns::Full, |e| ErrorKind::OutOfMemory);
}

#[cfg(feature = "http")]
mod http {
    use super::*;
    use crate::http::{BodyError, EncodeError, HeadError, client::ClientError};

    to_io!(HeadError, |e| ErrorKind::InvalidData);
    to_io!(BodyError, |e| ErrorKind::InvalidData);
    to_io!(EncodeError, |e| ErrorKind::InvalidInput);
    to_io!(ClientError, |e| match e {
        ClientError::Connect(c) | ClientError::Io(c) => io::Error::from(c).kind(),
        ClientError::Timeout => ErrorKind::TimedOut,
        ClientError::Closed => ErrorKind::UnexpectedEof,
        ClientError::Head(_) | ClientError::Body(_) => ErrorKind::InvalidData,
        ClientError::Busy
        | ClientError::NoAddress
        | ClientError::Encode(_)
        | ClientError::BodyLength
        | ClientError::NotStreaming => ErrorKind::InvalidInput,
        ClientError::TooLarge => ErrorKind::OutOfMemory,
    });
}
