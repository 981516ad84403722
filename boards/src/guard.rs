//! Keeps a listening pool from stealing a connection's own SYNs.
//!
//! smoltcp hands an incoming segment to the first socket, in storage order, that accepts it, and
//! a socket in `Listen` accepts *every* SYN to its port. With several sockets listening on one
//! port (a pool), a retransmitted or duplicated SYN of a connection that another pool socket
//! already holds (half-open or established) goes to whichever of the two comes first: if that is
//! a listener, it opens a second, bogus connection for the same 4-tuple, whose SYN-ACK the
//! client answers and whose reset then kills the real one. Under loss this happens within
//! seconds.
//!
//! The host therefore feeds ingress one frame at a time through [`Guarded`], which drops a SYN
//! (without ACK) whose 4-tuple a socket already holds. That is what the duplicate deserves: a
//! half-open socket retransmits its SYN-ACK by itself, and an established one needs nothing. Only
//! IPv4 is inspected (this crate enables no other IP version).

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// A connection's 4-tuple as seen from here: local port, remote address, remote port.
pub(crate) type Tuple = (u16, [u8; 4], u16);

/// The 4-tuple of a SYN (without ACK) to IPv4 TCP in `frame`, if it is one.
fn syn_tuple(frame: &[u8], medium: Medium) -> Option<Tuple> {
    let ip = match medium {
        Medium::Ethernet => {
            if frame.get(12..14)? != [0x08, 0x00] {
                return None;
            }
            frame.get(14..)?
        }
        _ => frame,
    };
    let (&vihl, &proto) = (ip.first()?, ip.get(9)?);
    if vihl >> 4 != 4 || proto != 6 {
        return None;
    }
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let tcp = ip.get(usize::from(vihl & 0x0f) * 4..)?;
    let flags = *tcp.get(13)?;
    let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
    if !syn || ack {
        return None;
    }
    let sport = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let dport = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    Some((dport, src, sport))
}

/// `D` with its received frames filtered against `held`.
pub(crate) struct Guarded<'d, D, const N: usize> {
    pub(crate) device: &'d mut D,
    pub(crate) held: &'d heapless::Vec<Tuple, N>,
    pub(crate) medium: Medium,
}

pub(crate) struct GuardedRx<'h, T, const N: usize> {
    token: T,
    held: &'h heapless::Vec<Tuple, N>,
    medium: Medium,
}

impl<T: phy::RxToken, const N: usize> phy::RxToken for GuardedRx<'_, T, N> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let (held, medium) = (self.held, self.medium);
        self.token.consume(|frame| {
            if syn_tuple(frame, medium).is_some_and(|t| held.contains(&t)) {
                // An empty frame does not parse: smoltcp drops it.
                f(&[])
            } else {
                f(frame)
            }
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.token.meta()
    }
}

impl<'d, D: Device, const N: usize> Device for Guarded<'d, D, N> {
    type RxToken<'a>
        = GuardedRx<'a, D::RxToken<'a>, N>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (held, medium) = (self.held, self.medium);
        self.device.receive(now).map(|(rx, tx)| {
            (
                GuardedRx {
                    token: rx,
                    held,
                    medium,
                },
                tx,
            )
        })
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.device.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.device.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tuple_of_a_bare_syn_only() {
        let mut f = [0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 2]);
        f[34..36].copy_from_slice(&49152u16.to_be_bytes());
        f[36..38].copy_from_slice(&7u16.to_be_bytes());
        f[34 + 13] = 0x02;
        assert_eq!(
            syn_tuple(&f, Medium::Ethernet),
            Some((7, [10, 0, 0, 2], 49152))
        );
        assert_eq!(
            syn_tuple(&f[14..], Medium::Ip),
            Some((7, [10, 0, 0, 2], 49152))
        );
        f[34 + 13] = 0x12; // SYN-ACK
        assert_eq!(syn_tuple(&f, Medium::Ethernet), None);
        assert_eq!(syn_tuple(&f[..30], Medium::Ethernet), None);
    }
}
