//! TLS over any transport, with rustls (feature `tls`): what libevent's
//! `bufferevent_openssl_socket_new` does, as a [`Transport`] that wraps another.
//!
//! [`Tls`] wraps a transport (usually [`Sockets`](crate::net::Sockets)) and is one itself, so
//! [`Connection`](levent_core::Connection), a [`ConnTable`](levent_core::ConnTable) and the HTTP
//! server and client run over it unchanged: connections accepted through it are TLS servers
//! ([`Tls::server`]), connections made through it TLS clients of one server name
//! ([`Tls::client`]). rustls does the protocol through its sans-IO interface; this module moves
//! records between it and the inner transport:
//!
//! - **Reading** decrypts what arrived. Data rustls has decrypted and the connection has not taken
//!   yet is reported by [`Transport::buffered`], so a connection that paused reading at its high
//!   watermark reads it when it resumes (no readiness would come for it).
//! - **Writing** hands plaintext to rustls (up to its buffer limit, 64 KiB) and sends the records
//!   at once as far as the socket takes them; what is left, and the handshake's own records, go
//!   out through [`Transport::flush`] when the socket is writable again. A write's return value
//!   is what rustls accepted.
//! - **Shutting down** writing sends `close_notify` first (then shuts down the socket once it is
//!   out). A peer that closes without `close_notify` is an error, not an end of file
//!   (`IoError::Protocol("TLS: stream cut without close_notify")`), so a truncated response is
//!   never taken for a whole one.
//! - **Errors** say what failed ([`IoError::Protocol`]: unknown certificate authority, a name the
//!   certificate is not valid for, an expired certificate, no common protocol version, a bad
//!   record...); the full rustls error is kept for [`Tls::last_error`]. A bad record is answered
//!   with the alert rustls chooses and never panics.
//! - **Handshake timeout**: a connection whose handshake has not completed within
//!   [`Tls::set_handshake_timeout`] (10 s by default) fails at its next read, write or flush; pair
//!   it with a read timeout of the connection (the HTTP server's head timeout is one) so that a
//!   silent peer is read at all.
//!
//! [`server_config`] and [`client_config`] make the usual configurations: a certificate chain and
//! key from PEM files, or the webpki roots (or a CA bundle from a PEM file) for a client, ALPN
//! `http/1.1`, rustls' `ring` provider.

/// The rustls this module is built on, for configurations of your own
/// (`levent_hosts::tls::rustls::ServerConfig::builder_with_provider(..)`).
pub use rustls;

use levent_core::io::{Accept, Connect, IoError, Transport};
use levent_core::{Dispatcher, SourceKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConnection, Connection, ServerConnection};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One TLS connection's state.
struct Session {
    conn: Connection,
    /// When the handshake must be complete.
    deadline: Option<Instant>,
    /// The peer closed the inner transport (or cut it).
    eof: bool,
    /// Writing was shut down: close the inner writing side once the records are out.
    shutdown: bool,
    error: Option<rustls::Error>,
}

/// A transport that speaks TLS over `IO`. See the [module documentation](self).
pub struct Tls<IO: Transport> {
    inner: IO,
    sessions: HashMap<SourceKey, Session>,
    server: Option<Arc<rustls::ServerConfig>>,
    client: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    handshake_timeout: Option<Duration>,
}

/// The inner transport as `std::io` streams for rustls, remembering the transport's own error.
struct Wire<'a, IO: Transport> {
    io: &'a mut IO,
    h: IO::Handle,
    error: Option<IoError>,
}

impl<IO: Transport> Read for Wire<'_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(self.h, buf).map_err(|e| {
            self.error = Some(e);
            io::Error::from(io::ErrorKind::Other)
        })
    }
}

impl<IO: Transport> Write for Wire<'_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(self.h, buf).map_err(|e| {
            self.error = Some(e);
            io::Error::from(io::ErrorKind::Other)
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a rustls error means, in a line.
fn describe(e: &rustls::Error) -> &'static str {
    use rustls::AlertDescription as A;
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "TLS: certificate signed by an unknown authority",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "TLS: certificate not valid for the server name"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "TLS: certificate expired"
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "TLS: certificate not valid yet"
            }
            CertificateError::Revoked => "TLS: certificate revoked",
            _ => "TLS: invalid certificate",
        },
        E::PeerIncompatible(_) => {
            "TLS: the peer supports no common protocol version or cipher suite"
        }
        E::PeerMisbehaved(_) => "TLS: the peer broke the protocol",
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => "TLS: bad record from the peer",
        E::DecryptError => "TLS: a record failed to decrypt",
        E::NoCertificatesPresented => "TLS: the peer presented no certificate",
        E::NoApplicationProtocol => "TLS: no common application protocol (ALPN)",
        E::AlertReceived(a) => match a {
            A::UnknownCA => "TLS: the peer does not trust our certificate authority",
            A::BadCertificate | A::CertificateUnknown => "TLS: the peer refused our certificate",
            A::CertificateExpired => "TLS: the peer says our certificate expired",
            A::ProtocolVersion => "TLS: the peer supports no common protocol version",
            A::HandshakeFailure => "TLS: the peer refused the handshake",
            A::UnrecognisedName => "TLS: the peer does not serve that name",
            A::NoApplicationProtocol => "TLS: the peer supports no common application protocol",
            _ => "TLS: the peer sent an alert",
        },
        _ => "TLS: protocol error",
    }
}

impl<IO: Transport> Tls<IO> {
    fn new(inner: IO) -> Self {
        Tls {
            inner,
            sessions: HashMap::new(),
            server: None,
            client: None,
            handshake_timeout: Some(Duration::from_secs(10)),
        }
    }

    /// TLS servers: every connection accepted through this transport speaks TLS with `config`.
    pub fn server(inner: IO, config: Arc<rustls::ServerConfig>) -> Self {
        let mut t = Self::new(inner);
        t.server = Some(config);
        t
    }

    /// TLS clients: every connection made through this transport ([`Connect`]) speaks TLS with
    /// `config` to a server that must prove it is `server_name` (also sent as SNI).
    pub fn client(
        inner: IO,
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Self {
        let mut t = Self::new(inner);
        t.client = Some((config, server_name));
        t
    }

    /// How long a handshake may take (`None`: forever); for connections made from now on.
    pub fn set_handshake_timeout(&mut self, timeout: Option<Duration>) {
        self.handshake_timeout = timeout;
    }

    /// The transport underneath.
    pub fn inner(&self) -> &IO {
        &self.inner
    }

    /// The transport underneath, to listen or set socket options.
    pub fn inner_mut(&mut self) -> &mut IO {
        &mut self.inner
    }

    /// The server name a client asked for (SNI), on a server connection.
    pub fn server_name(&self, h: IO::Handle) -> Option<&str> {
        match &self.session(h)?.conn {
            Connection::Server(s) => s.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// The application protocol agreed on (ALPN), once the handshake is done.
    pub fn alpn(&self, h: IO::Handle) -> Option<&[u8]> {
        self.session(h)?.conn.alpn_protocol()
    }

    /// Whether `h` is still in its handshake.
    pub fn is_handshaking(&self, h: IO::Handle) -> bool {
        self.session(h).is_some_and(|s| s.conn.is_handshaking())
    }

    /// The rustls error that failed `h`, with all its detail.
    pub fn last_error(&self, h: IO::Handle) -> Option<&rustls::Error> {
        self.session(h)?.error.as_ref()
    }

    fn session(&self, h: IO::Handle) -> Option<&Session> {
        self.sessions.get(&self.inner.source(h))
    }

    fn start(&mut self, h: IO::Handle, conn: Connection) {
        let deadline = self.handshake_timeout.map(|t| Instant::now() + t);
        self.sessions.insert(
            self.inner.source(h),
            Session {
                conn,
                deadline,
                eof: false,
                shutdown: false,
                error: None,
            },
        );
    }

    /// Send what rustls has queued, as far as the inner transport takes it: whether all went.
    fn send(inner: &mut IO, h: IO::Handle, s: &mut Session) -> Result<bool, IoError> {
        while s.conn.wants_write() {
            let mut wire = Wire {
                io: &mut *inner,
                h,
                error: None,
            };
            match s.conn.write_tls(&mut wire) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(_) => match wire.error {
                    Some(IoError::WouldBlock) => return Ok(false),
                    Some(IoError::Interrupted) => {}
                    Some(e) => return Err(e),
                    None => return Err(IoError::Other(0)),
                },
            }
        }
        if s.shutdown {
            s.shutdown = false;
            inner.shutdown_write(h)?;
        }
        Ok(true)
    }

    /// Fail on an expired handshake.
    fn check_deadline(s: &mut Session) -> Result<(), IoError> {
        if s.conn.is_handshaking() && s.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(IoError::Protocol("TLS: handshake timed out"));
        }
        Ok(())
    }
}

impl<IO: Transport> Transport for Tls<IO> {
    type Handle = IO::Handle;

    fn source(&self, h: Self::Handle) -> SourceKey {
        self.inner.source(h)
    }

    fn read(&mut self, h: Self::Handle, buf: &mut [u8]) -> Result<usize, IoError> {
        let key = self.inner.source(h);
        let Some(s) = self.sessions.get_mut(&key) else {
            return self.inner.read(h, buf);
        };
        Self::check_deadline(s)?;
        loop {
            match s.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(IoError::Protocol("TLS: stream cut without close_notify"));
                }
                Err(_) => return Err(IoError::Protocol("TLS: protocol error")),
            }
            if s.eof {
                return Err(IoError::Protocol("TLS: stream cut without close_notify"));
            }
            let mut wire = Wire {
                io: &mut self.inner,
                h,
                error: None,
            };
            match s.conn.read_tls(&mut wire) {
                Ok(0) => s.eof = true,
                Ok(_) => {}
                Err(_) => match wire.error {
                    Some(IoError::WouldBlock) => return Err(IoError::WouldBlock),
                    Some(IoError::Interrupted) => continue,
                    Some(e) => return Err(e),
                    // rustls' own buffer is full: decrypt before reading more.
                    None => {}
                },
            }
            if let Err(e) = s.conn.process_new_packets() {
                let what = describe(&e);
                s.error = Some(e);
                // The alert rustls queued goes out if the socket takes it.
                let _ = Self::send(&mut self.inner, h, s);
                return Err(IoError::Protocol(what));
            }
            // Handshake records to answer with.
            Self::send(&mut self.inner, h, s)?;
        }
    }

    fn write(&mut self, h: Self::Handle, buf: &[u8]) -> Result<usize, IoError> {
        let key = self.inner.source(h);
        let Some(s) = self.sessions.get_mut(&key) else {
            return self.inner.write(h, buf);
        };
        Self::check_deadline(s)?;
        let taken = s
            .conn
            .writer()
            .write(buf)
            .map_err(|_| IoError::Protocol("TLS: protocol error"))?;
        Self::send(&mut self.inner, h, s)?;
        if taken == 0 && !buf.is_empty() {
            // rustls' buffer is full until the socket takes its records.
            return Err(IoError::WouldBlock);
        }
        Ok(taken)
    }

    fn shutdown_write(&mut self, h: Self::Handle) -> Result<(), IoError> {
        let key = self.inner.source(h);
        let Some(s) = self.sessions.get_mut(&key) else {
            return self.inner.shutdown_write(h);
        };
        s.conn.send_close_notify();
        s.shutdown = true;
        Self::send(&mut self.inner, h, s).map(|_| ())
    }

    fn connected(&mut self, h: Self::Handle) -> Result<(), IoError> {
        self.inner.connected(h)
    }

    fn close(&mut self, d: &mut dyn Dispatcher, h: Self::Handle) {
        self.sessions.remove(&self.inner.source(h));
        self.inner.close(d, h);
    }

    fn buffered(&mut self, h: Self::Handle) -> bool {
        let key = self.inner.source(h);
        self.sessions.get_mut(&key).is_some_and(|s| {
            s.conn
                .process_new_packets()
                .is_ok_and(|st| st.plaintext_bytes_to_read() > 0 || st.peer_has_closed())
        })
    }

    fn flush(&mut self, h: Self::Handle) -> Result<bool, IoError> {
        let key = self.inner.source(h);
        let Some(s) = self.sessions.get_mut(&key) else {
            return self.inner.flush(h);
        };
        Self::check_deadline(s)?;
        Self::send(&mut self.inner, h, s)
    }

    fn peer_addr(&self, h: Self::Handle) -> Option<SocketAddr> {
        self.inner.peer_addr(h)
    }
}

impl<IO: Accept> Accept for Tls<IO> {
    /// The next connection, as a TLS server with this transport's configuration (plain when it
    /// was made with [`Tls::client`]).
    fn accept(&mut self, h: Self::Handle) -> Result<Self::Handle, IoError> {
        let c = self.inner.accept(h)?;
        if let Some(cfg) = self.server.clone() {
            match ServerConnection::new(cfg) {
                Ok(conn) => self.start(c, Connection::Server(conn)),
                Err(_) => return Err(IoError::Protocol("TLS: cannot start a server session")),
            }
        }
        Ok(c)
    }
}

impl<IO: Connect> Connect for Tls<IO> {
    /// Connect and start the handshake (the client hello goes out once connected), as a client
    /// of this transport's server name (plain when it was made with [`Tls::server`]).
    fn connect(&mut self, to: SocketAddr) -> Result<Self::Handle, IoError> {
        let h = self.inner.connect(to)?;
        if let Some((cfg, name)) = self.client.clone() {
            match ClientConnection::new(cfg, name) {
                Ok(conn) => self.start(h, Connection::Client(conn)),
                Err(_) => return Err(IoError::Protocol("TLS: cannot start a client session")),
            }
        }
        Ok(h)
    }
}

/// A server configuration from a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or
/// SEC1), with ALPN `http/1.1` and rustls' `ring` provider.
///
/// # Errors
///
/// A file that cannot be read, holds no certificate or no key, or a key that does not match.
pub fn server_config(cert_chain: &Path, key: &Path) -> io::Result<Arc<rustls::ServerConfig>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_chain)
        .map_err(|e| bad(format!("{}: {e}", cert_chain.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("{}: {e}", cert_chain.display())))?;
    if certs.is_empty() {
        return Err(bad(format!("{}: no certificate", cert_chain.display())));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| bad(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(format!("the certificate and key do not go together: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A client configuration that trusts the certificate authorities in the PEM file `ca`, or
/// Mozilla's root store (webpki-roots) without one; ALPN `http/1.1`, rustls' `ring` provider.
///
/// # Errors
///
/// A CA file that cannot be read or holds no usable certificate.
pub fn client_config(ca: Option<&Path>) -> io::Result<Arc<rustls::ClientConfig>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?
            {
                let cert = cert.map_err(|e| bad(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| bad(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(bad(format!("{}: no certificate", path.display())));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// `name` as a server name for [`Tls::client`]: a DNS name or an IP address.
///
/// # Errors
///
/// Neither a valid DNS name nor an IP address.
pub fn server_name(name: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(name.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a server name"),
        )
    })
}
