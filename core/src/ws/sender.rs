//! The sending side: frames written into a caller's buffer, masked when a client sends them.

use super::frame::{FrameHeader, MAX_CONTROL, MAX_HEADER, Opcode, apply_mask};
use super::{Role, close_code_is_valid};

/// Writes frames. A client masks every frame with a fresh key (§5.3) from a generator seeded with
/// [`new`](Self::new)'s `seed`, which should come from the platform's randomness (a host's
/// random source, a board's RNG peripheral): keys a proxy could predict defeat masking's purpose.
///
/// ```
/// use levent_core::ws::{Opcode, Role, Sender};
///
/// let mut out = [0u8; 64];
/// let n = Sender::new(Role::Server, 0).frame(&mut out, Opcode::Text, true, b"hi").unwrap();
/// assert_eq!(&out[..n], &[0x81, 2, b'h', b'i']);
/// ```
#[derive(Clone, Debug)]
pub struct Sender {
    role: Role,
    state: u64,
}

impl Sender {
    /// A sender for `role`; `seed` seeds a client's masking keys (a server ignores it).
    pub fn new(role: Role, seed: u64) -> Sender {
        Sender {
            role,
            // xorshift must not start at zero.
            state: seed | 1,
        }
    }

    /// The next masking key (xorshift64*), for a client.
    fn key(&mut self) -> Option<[u8; 4]> {
        if self.role == Role::Server {
            return None;
        }
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        let k = x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        Some([k[4], k[5], k[6], k[7]])
    }

    /// Write the header of a frame of `len` payload bytes into `out`: its length, and the
    /// masking key the payload must be masked with ([`apply_mask`]) if this side is a client.
    /// `None` when `out` is shorter than the header.
    pub fn header(
        &mut self,
        out: &mut [u8],
        opcode: Opcode,
        fin: bool,
        len: u64,
    ) -> Option<(usize, Option<[u8; 4]>)> {
        let mask = self.key();
        let h = FrameHeader {
            fin,
            opcode,
            mask,
            len,
        };
        h.write(out).map(|n| (n, mask))
    }

    /// Write a whole frame carrying `payload` into `out`; its length, or `None` when it does not
    /// fit.
    pub fn frame(
        &mut self,
        out: &mut [u8],
        opcode: Opcode,
        fin: bool,
        payload: &[u8],
    ) -> Option<usize> {
        let (n, mask) = self.header(out, opcode, fin, payload.len() as u64)?;
        let body = out.get_mut(n..n + payload.len())?;
        body.copy_from_slice(payload);
        if let Some(k) = mask {
            apply_mask(body, k, 0);
        }
        Some(n + payload.len())
    }

    /// Write a close frame with `code` and `reason` (cut to fit the 125 bytes of a control
    /// frame, at a character boundary); `None` when `out` is too short or `code` may not be sent
    /// ([`close_code_is_valid`](super::close_code_is_valid)).
    pub fn close(&mut self, out: &mut [u8], code: u16, reason: &str) -> Option<usize> {
        if !close_code_is_valid(code) {
            return None;
        }
        let mut cut = reason.len().min(MAX_CONTROL - 2);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut payload = [0u8; MAX_CONTROL];
        payload[..2].copy_from_slice(&code.to_be_bytes());
        payload[2..2 + cut].copy_from_slice(&reason.as_bytes()[..cut]);
        self.frame(out, Opcode::Close, true, &payload[..2 + cut])
    }

    /// The room a frame of `len` payload bytes takes on the wire.
    pub const fn wire_len(&self, len: usize) -> usize {
        let head = if len < 126 {
            2
        } else if len <= 0xffff {
            4
        } else {
            10
        };
        let mask = match self.role {
            Role::Client => 4,
            Role::Server => 0,
        };
        head + mask + len
    }
}

/// At least this much scratch lets [`Sender::frame`] write any control frame.
pub(crate) const CONTROL_FRAME: usize = MAX_HEADER + MAX_CONTROL;
