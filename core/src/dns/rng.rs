//! [`Rng`]: the unpredictable numbers a resolver needs (transaction ids, the socket a query
//! leaves from), from a seed the caller brings.
//!
//! Transaction ids only protect against off-path spoofing if an attacker who sees some of them
//! cannot predict the next ones, so a fast invertible generator (xorshift, wyrand) will not do.
//! `Rng` is SipHash-2-4, a keyed pseudo-random function, applied to a counter: the output is as
//! unpredictable as the 128-bit key, and each number costs about 20 ns. Hosts seed it from the
//! operating system (`levent_hosts::dns::seed`); a board seeds it from its hardware RNG or
//! whatever entropy it has (ADC noise, a unique id and a boot counter) — a constant seed makes ids
//! predictable, which is fine for tests and simulations only.

/// A keyed pseudo-random generator (SipHash-2-4 over a counter): as unpredictable as its 16-byte
/// seed, about 20 ns a number. Seed it from real entropy; a constant seed (tests, simulations)
/// makes transaction ids predictable.
///
/// ```
/// use levent_core::dns::Rng;
/// let mut a = Rng::new([7; 16]);
/// let mut b = Rng::new([7; 16]);
/// assert_eq!(a.u64(), b.u64()); // the same seed, the same numbers
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Debug)]
pub struct Rng {
    k0: u64,
    k1: u64,
    counter: u64,
}

impl Rng {
    /// A generator keyed by `seed`.
    pub fn new(seed: [u8; 16]) -> Self {
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&seed[..8]);
        hi.copy_from_slice(&seed[8..]);
        Rng {
            k0: u64::from_le_bytes(lo),
            k1: u64::from_le_bytes(hi),
            counter: 0,
        }
    }

    /// The next 64 random bits.
    pub fn u64(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        siphash24(self.k0, self.k1, self.counter)
    }

    /// The next 16 random bits.
    pub fn u16(&mut self) -> u16 {
        (self.u64() >> 48) as u16
    }

    /// A number below `n` (0 when `n` is 0), without modulo bias worth mentioning for the small
    /// `n` a resolver uses.
    pub fn below(&mut self, n: u32) -> u32 {
        ((u128::from(self.u64() >> 32) * u128::from(n)) >> 32) as u32
    }
}

/// SipHash-2-4 of one 8-byte message (the reference algorithm, specialised to that length).
fn siphash24(k0: u64, k1: u64, m: u64) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    // The final block: the message length (8) in the top byte, no leftover bytes.
    let b = 8u64 << 56;
    v[3] ^= b;
    round(&mut v);
    round(&mut v);
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_matches_the_reference_vector_for_eight_bytes() {
        // The SipHash paper's test key 00..0f and message 00..07 (vector 8 of vectors.h).
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let m = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            siphash24(k0, k1, m).to_le_bytes(),
            [0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93]
        );
    }

    #[test]
    fn different_seeds_give_different_ids() {
        let mut a = Rng::new([1; 16]);
        let mut b = Rng::new([2; 16]);
        let same = (0..64).filter(|_| a.u16() == b.u16()).count();
        assert!(same < 4);
    }
}
