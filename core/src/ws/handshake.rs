//! The opening handshake (RFC 6455 §4): checking an upgrade request, and the accept key.

use crate::http::{Request, Response};
use base64::Engine as _;
use core::fmt;
use sha1::{Digest, Sha1};

/// The GUID every accept key is computed with (§1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for `key`, the client's `Sec-WebSocket-Key` as sent: base64 of the
/// SHA-1 of the key and the protocol's GUID.
///
/// ```
/// assert_eq!(&levent_core::ws::accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    let digest = sha.finalize();
    let mut out = [0u8; 28];
    // 20 bytes are 28 characters of base64: the buffer always fits.
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut out);
    out
}

/// Why a request cannot be upgraded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UpgradeError {
    /// Not a `GET` in HTTP/1.1 or later.
    NotGet,
    /// No `Upgrade: websocket` with `Connection: upgrade`.
    NotUpgrade,
    /// `Sec-WebSocket-Version` is not 13: answer 426 with `Sec-WebSocket-Version: 13`.
    Version,
    /// `Sec-WebSocket-Key` is missing or not 16 bytes in base64.
    Key,
    /// The request has a body.
    Body,
    /// The exchange was answered already (or the answer does not fit in the output).
    Answered,
}

impl UpgradeError {
    /// The status to refuse the request with: 426 for a version this side does not speak, 400
    /// otherwise.
    pub const fn status(&self) -> u16 {
        match self {
            UpgradeError::Version => 426,
            _ => 400,
        }
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeError::NotGet => "a websocket upgrade must be a GET in HTTP/1.1",
            UpgradeError::NotUpgrade => "no Upgrade: websocket with Connection: upgrade",
            UpgradeError::Version => "Sec-WebSocket-Version is not 13",
            UpgradeError::Key => "Sec-WebSocket-Key is missing or not 16 bytes of base64",
            UpgradeError::Body => "a websocket upgrade request has a body",
            UpgradeError::Answered => "the exchange was answered already",
        })
    }
}

impl core::error::Error for UpgradeError {}

/// Whether the comma-separated list `value` has `token` (case-insensitively, whitespace around
/// the elements ignored): how `Connection` and `Upgrade` are read.
///
/// ```
/// use levent_core::ws::has_token;
/// assert!(has_token(b"keep-alive, Upgrade", "upgrade"));
/// assert!(!has_token(b"upgraded", "upgrade"));
/// ```
pub fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether any field `name` of `headers` lists `token`.
fn any_has(headers: &[crate::http::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .any(|h| has_token(h.value, token))
}

/// Check that `req` asks for a WebSocket (§4.2.1) and return its `Sec-WebSocket-Key`, for
/// [`accept_key`].
///
/// # Errors
///
/// Says what is missing; [`UpgradeError::status`] is the status to refuse it with.
pub fn check_upgrade<'b>(req: &Request<'b, '_>) -> Result<&'b [u8], UpgradeError> {
    if req.method() != "GET" || !req.version().is_11() {
        return Err(UpgradeError::NotGet);
    }
    if !any_has(req.headers(), "upgrade", "websocket")
        || !any_has(req.headers(), "connection", "upgrade")
    {
        return Err(UpgradeError::NotUpgrade);
    }
    if req.header("sec-websocket-version").map(<[u8]>::trim_ascii) != Some(b"13") {
        return Err(UpgradeError::Version);
    }
    let key = req
        .header("sec-websocket-key")
        .map(<[u8]>::trim_ascii)
        .ok_or(UpgradeError::Key)?;
    let mut raw = [0u8; 18];
    match base64::engine::general_purpose::STANDARD.decode_slice(key, &mut raw) {
        Ok(16) => {}
        _ => return Err(UpgradeError::Key),
    }
    if !matches!(
        req.framing(),
        crate::http::Framing::None | crate::http::Framing::Length(0)
    ) {
        return Err(UpgradeError::Body);
    }
    Ok(key)
}

/// Check a server's answer to an upgrade request whose key was `key` (§4.1): status 101,
/// `Upgrade: websocket`, `Connection: upgrade` and the right accept key.
pub(crate) fn check_accept(resp: &Response<'_, '_>, key: &[u8]) -> Result<(), &'static str> {
    if resp.status() != 101 {
        return Err("the server did not switch protocols");
    }
    if !any_has(resp.headers(), "upgrade", "websocket")
        || !any_has(resp.headers(), "connection", "upgrade")
    {
        return Err("the server's answer lacks Upgrade: websocket or Connection: upgrade");
    }
    let accept = resp.header("sec-websocket-accept").map(<[u8]>::trim_ascii);
    if accept != Some(&accept_key(key)[..]) {
        return Err("the server's Sec-WebSocket-Accept does not match the key");
    }
    Ok(())
}
