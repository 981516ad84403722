//! [`Methods`]: sets of request methods, for the server's allowed methods and the router.

/// A set of request methods (libevent's `EVHTTP_REQ_*` flags).
///
/// ```
/// use levent_core::http::route::Methods;
/// let m = Methods::GET | Methods::POST;
/// assert!(m.contains(Methods::of("POST")));
/// assert!(!m.contains(Methods::of("BREW")));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Methods(u16);

const NAMES: [(&str, Methods); 9] = [
    ("GET", Methods::GET),
    ("HEAD", Methods::HEAD),
    ("POST", Methods::POST),
    ("PUT", Methods::PUT),
    ("DELETE", Methods::DELETE),
    ("OPTIONS", Methods::OPTIONS),
    ("PATCH", Methods::PATCH),
    ("TRACE", Methods::TRACE),
    ("CONNECT", Methods::CONNECT),
];

impl Methods {
    /// No method.
    pub const NONE: Methods = Methods(0);
    /// `GET`.
    pub const GET: Methods = Methods(1);
    /// `HEAD`.
    pub const HEAD: Methods = Methods(2);
    /// `POST`.
    pub const POST: Methods = Methods(4);
    /// `PUT`.
    pub const PUT: Methods = Methods(8);
    /// `DELETE`.
    pub const DELETE: Methods = Methods(16);
    /// `OPTIONS`.
    pub const OPTIONS: Methods = Methods(32);
    /// `PATCH`.
    pub const PATCH: Methods = Methods(64);
    /// `TRACE`.
    pub const TRACE: Methods = Methods(128);
    /// `CONNECT`.
    pub const CONNECT: Methods = Methods(256);
    /// Any method this type does not name (`PROPFIND`, `BREW`, …).
    pub const OTHER: Methods = Methods(512);
    /// Every method, named or not.
    pub const ANY: Methods = Methods(1023);
    /// What a server allows unless told otherwise: every named method but `TRACE` and `CONNECT`
    /// (libevent allows GET, POST, HEAD, PUT and DELETE; OPTIONS and PATCH are as common now).
    pub const DEFAULT: Methods = Methods(127);

    /// The flag of method `name` (case-sensitive, as methods are); [`Methods::OTHER`] for a name
    /// this type does not know.
    pub fn of(name: &str) -> Methods {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Methods::OTHER, |(_, m)| *m)
    }

    /// Whether every method of `other` is in `self`.
    pub const fn contains(self, other: Methods) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// Both sets.
    pub const fn union(self, other: Methods) -> Methods {
        Methods(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names in the set, in a fixed order, as an `Allow` field lists them.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(_, m)| self.contains(*m))
            .map(|(n, _)| *n)
    }

    /// Writes the names comma-separated (`GET, HEAD, POST`) into `buf`; returns the length, or
    /// `None` if `buf` is too small.
    pub fn write_list(self, buf: &mut [u8]) -> Option<usize> {
        let mut n = 0;
        for name in self.names() {
            let sep: &[u8] = if n == 0 { b"" } else { b", " };
            for part in [sep, name.as_bytes()] {
                buf.get_mut(n..n + part.len())?.copy_from_slice(part);
                n += part.len();
            }
        }
        Some(n)
    }
}

impl core::ops::BitOr for Methods {
    type Output = Methods;
    fn bitor(self, rhs: Methods) -> Methods {
        self.union(rhs)
    }
}
