//! The frame header of RFC 6455 §5.2: parsing, checking and writing it, and masking payloads.

use super::WsError;

/// A frame's opcode.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Opcode {
    /// A later fragment of a message (`0x0`).
    Continuation,
    /// The first frame of a text message (`0x1`).
    Text,
    /// The first frame of a binary message (`0x2`).
    Binary,
    /// The close handshake (`0x8`).
    Close,
    /// A ping (`0x9`), answered with a pong carrying the same payload.
    Ping,
    /// A pong (`0xA`).
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    const fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: frames that may come between the fragments of a message.
    pub const fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The masking key, if the payload is masked (every frame a client sends is).
    pub mask: Option<[u8; 4]>,
    /// The payload's length.
    pub len: u64,
}

/// The longest header: 2 bytes, an 8-byte length and a 4-byte masking key.
pub const MAX_HEADER: usize = 14;

/// The longest payload of a control frame (§5.5).
pub const MAX_CONTROL: usize = 125;

impl FrameHeader {
    /// Parse a header from the start of `buf`: the header and its length in bytes, `Ok(None)`
    /// when `buf` holds only part of it. Fails with [`WsError::Protocol`] for reserved bits
    /// (no extension is negotiated), an unknown opcode, a fragmented or oversized control frame,
    /// or a length that is not in its shortest form or has its top bit set.
    ///
    /// ```
    /// use levent_core::ws::{FrameHeader, Opcode};
    ///
    /// // A masked "Hello" from a client (RFC 6455 §5.7).
    /// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (h, n) = FrameHeader::parse(&wire).unwrap().unwrap();
    /// assert_eq!((h.fin, h.opcode, h.len, n), (true, Opcode::Text, 5, 6));
    /// assert_eq!(FrameHeader::parse(&wire[..3]), Ok(None));
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(WsError::Protocol("reserved bits set without an extension"));
        }
        let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(WsError::Protocol("unknown opcode"))?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        if opcode.is_control() {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if b1 & 0x7f > MAX_CONTROL as u8 {
                return Err(WsError::Protocol("control frame longer than 125 bytes"));
            }
        }
        let (len, mut pos) = match b1 & 0x7f {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(WsError::Protocol("length not in its shortest form"));
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut eight = [0u8; 8];
                eight.copy_from_slice(b);
                let len = u64::from_be_bytes(eight);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol("length with its top bit set"));
                }
                if len <= 0xffff {
                    return Err(WsError::Protocol("length not in its shortest form"));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            let Some(k) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                opcode,
                mask,
                len,
            },
            pos,
        )))
    }

    /// Write this header into `out`; how many bytes it took (at most [`MAX_HEADER`]), or
    /// `None` when `out` is too short.
    ///
    /// ```
    /// use levent_core::ws::{FrameHeader, Opcode};
    ///
    /// let h = FrameHeader { fin: true, opcode: Opcode::Binary, mask: None, len: 300 };
    /// let mut out = [0u8; 14];
    /// let n = h.write(&mut out).unwrap();
    /// assert_eq!(&out[..n], &[0x82, 126, 0x01, 0x2c]);
    /// assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
    /// ```
    pub fn write(&self, out: &mut [u8]) -> Option<usize> {
        let mut head = [0u8; MAX_HEADER];
        head[0] = u8::from(self.fin) << 7 | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = if self.len < 126 {
            head[1] = mask_bit | self.len as u8;
            2
        } else if self.len <= 0xffff {
            head[1] = mask_bit | 126;
            head[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
            4
        } else {
            head[1] = mask_bit | 127;
            head[2..10].copy_from_slice(&self.len.to_be_bytes());
            10
        };
        if let Some(k) = self.mask {
            head[n..n + 4].copy_from_slice(&k);
            n += 4;
        }
        out.get_mut(..n)?.copy_from_slice(&head[..n]);
        Some(n)
    }
}

/// XOR `data` with masking key `key`, `data` being the payload from byte `offset` on: masking
/// and unmasking are the same operation (§5.3).
///
/// ```
/// let mut data = *b"Hello";
/// levent_core::ws::apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// levent_core::ws::apply_mask(&mut data[2..], [0x37, 0xfa, 0x21, 0x3d], 2);
/// assert_eq!(&data[2..], b"llo");
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: u64) {
    let start = (offset % 4) as usize;
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(start + i) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_form_round_trips_and_non_minimal_lengths_are_refused() {
        for len in [0u64, 1, 125, 126, 127, 0xffff, 0x1_0000, 1 << 40] {
            for mask in [None, Some([1, 2, 3, 4])] {
                let h = FrameHeader {
                    fin: len % 2 == 0,
                    opcode: Opcode::Binary,
                    mask,
                    len,
                };
                let mut out = [0u8; MAX_HEADER];
                let n = h.write(&mut out).unwrap();
                assert_eq!(FrameHeader::parse(&out[..n]), Ok(Some((h, n))));
                for cut in 0..n {
                    assert_eq!(
                        FrameHeader::parse(&out[..cut]),
                        Ok(None),
                        "{len} cut at {cut}"
                    );
                }
            }
        }
        assert!(FrameHeader::parse(&[0x82, 126, 0, 125]).is_err());
        assert!(FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_err());
        assert!(FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 1, 0, 0]).is_err());
    }

    #[test]
    fn reserved_bits_unknown_opcodes_and_bad_control_frames_are_protocol_errors() {
        for bad in [
            [0xc1, 0x00], // RSV1
            [0xa1, 0x00], // RSV2
            [0x91, 0x00], // RSV3
            [0x83, 0x00], // opcode 3
            [0x8b, 0x00], // opcode 0xB
            [0x09, 0x00], // ping without FIN
            [0x89, 126],  // ping longer than 125
        ] {
            assert!(FrameHeader::parse(&bad).is_err(), "{bad:02x?}");
        }
        assert!(FrameHeader::parse(&[0x89, 125]).is_ok());
    }
}
