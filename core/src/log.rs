//! Logging without a logger of our own: through the `log` crate with the `log` feature (hosts),
//! through defmt with the `defmt` feature (boards), and not at all otherwise. Messages use only
//! `{}` placeholders with arguments both can format (numbers, `IoError`, string slices).

/// Log at `warn` level: something was refused or lost (a connection closed for lack of room).
macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::warn!($($arg)*);
        #[cfg(all(feature = "defmt", not(feature = "log")))]
        ::defmt::warn!($($arg)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = format_args!($($arg)*);
    }};
}

/// Log at `info` level: a state change worth knowing (accepting paused and resumed).
macro_rules! info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::info!($($arg)*);
        #[cfg(all(feature = "defmt", not(feature = "log")))]
        ::defmt::info!($($arg)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = format_args!($($arg)*);
    }};
}

/// Log at `debug` level: routine events of interest when tracing a problem (a retry, a limit hit
/// by one request).
macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::debug!($($arg)*);
        #[cfg(all(feature = "defmt", not(feature = "log")))]
        ::defmt::debug!($($arg)*);
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        let _ = format_args!($($arg)*);
    }};
}
