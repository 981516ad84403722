//! Both buffer representations — the fixed ring of the core and the growable chain of the hosts —
//! against a `VecDeque<u8>` model, for every operation; and line reading for each end-of-line
//! style, including lines split across the ring's wrap point and across chain blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use levent_core::buffer::{Buffer, Eol, LineTooLong, RingBuffer};
use levent_hosts::buffer::ChainBuffer;
use proptest::prelude::*;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
enum Op {
    Append(Vec<u8>),
    Drain(usize),
    Peek(usize, usize),
    Find(Vec<u8>, usize),
    ReadLine(u8, usize),
    Reserve(usize, usize),
    Take(usize),
    IoWrite(Vec<u8>),
    IoRead(usize),
}

/// Bytes from a small alphabet rich in line ends, so that searches and lines happen.
fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'\r'), Just(b'\n'), Just(0u8)],
        0..max,
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => bytes(40).prop_map(Op::Append),
        2 => (0usize..50).prop_map(Op::Drain),
        1 => (0usize..60, 0usize..40).prop_map(|(o, l)| Op::Peek(o, l)),
        2 => (bytes(4), 0usize..40).prop_map(|(n, f)| Op::Find(n, f)),
        3 => (0u8..5, 0usize..40).prop_map(|(s, c)| Op::ReadLine(s, c)),
        2 => (1usize..40, 0usize..40).prop_map(|(m, n)| Op::Reserve(m, n)),
        1 => (0usize..40).prop_map(Op::Take),
        1 => bytes(20).prop_map(Op::IoWrite),
        1 => (0usize..40).prop_map(Op::IoRead),
    ]
}

fn eol(s: u8) -> Eol {
    [Eol::Any, Eol::Crlf, Eol::CrlfStrict, Eol::Lf, Eol::Nul][s as usize % 5]
}

/// The model's notion of a line: `(line length, end-of-line length)`.
fn model_line(d: &[u8], eol: Eol) -> Option<(usize, usize)> {
    let find = |needle: &[u8]| d.windows(needle.len()).position(|w| w == needle);
    match eol {
        Eol::Nul => find(b"\0").map(|i| (i, 1)),
        Eol::Lf => find(b"\n").map(|i| (i, 1)),
        Eol::CrlfStrict => find(b"\r\n").map(|i| (i, 2)),
        Eol::Crlf => find(b"\n").map(|i| {
            if i > 0 && d[i - 1] == b'\r' {
                (i - 1, 2)
            } else {
                (i, 1)
            }
        }),
        Eol::Any => {
            let start = d.iter().position(|&b| b == b'\r' || b == b'\n')?;
            let end = d[start..]
                .iter()
                .position(|&b| b != b'\r' && b != b'\n')
                .map_or(d.len(), |k| start + k);
            Some((start, end - start))
        }
    }
}

fn check<B: Buffer + embedded_io::Read + embedded_io::Write>(
    mut b: B,
    cap: usize,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut m: VecDeque<u8> = VecDeque::new();
    for op in ops {
        match op {
            Op::Append(data) | Op::IoWrite(data) => {
                let room = cap - m.len();
                let taken = match op {
                    Op::Append(_) => b.append(data),
                    _ => match embedded_io::Write::write(&mut b, data) {
                        Ok(n) => n,
                        Err(_) => {
                            prop_assert!(room == 0 && !data.is_empty());
                            0
                        }
                    },
                };
                prop_assert_eq!(
                    taken,
                    data.len().min(room),
                    "a full buffer says how much it took"
                );
                m.extend(&data[..taken]);
            }
            Op::Drain(n) => {
                let k = (*n).min(m.len());
                prop_assert_eq!(b.drain(*n), k);
                m.drain(..k);
            }
            Op::Peek(off, len) => {
                let mut out = vec![0u8; *len];
                let n = b.peek(*off, &mut out);
                let want: Vec<u8> = m.iter().skip(*off).take(*len).copied().collect();
                prop_assert_eq!(&out[..n], &want[..]);
            }
            Op::Find(needle, from) => {
                let d: Vec<u8> = m.iter().copied().collect();
                let want = if needle.is_empty() {
                    (*from <= d.len()).then_some(*from)
                } else {
                    (*from..d.len().saturating_sub(needle.len() - 1))
                        .find(|&i| d[i..].starts_with(needle))
                };
                prop_assert_eq!(b.find(needle, *from), want);
            }
            Op::ReadLine(style, cap_out) => {
                let d: Vec<u8> = m.iter().copied().collect();
                let mut out = vec![0u8; *cap_out];
                let got = b.read_line(eol(*style), &mut out);
                match model_line(&d, eol(*style)) {
                    None => prop_assert_eq!(got, Ok(None)),
                    Some((len, _)) if len > *cap_out => {
                        prop_assert_eq!(got, Err(LineTooLong { len }))
                    }
                    Some((len, end)) => {
                        prop_assert_eq!(got, Ok(Some(len)));
                        prop_assert_eq!(&out[..len], &d[..len]);
                        m.drain(..len + end);
                    }
                }
            }
            Op::Reserve(min, n) => {
                let space = b.reserve(*min);
                let k = (*n).min(space.len());
                for (i, x) in space[..k].iter_mut().enumerate() {
                    *x = b'a' + (i % 2) as u8;
                }
                b.commit(k);
                m.extend((0..k).map(|i| b'a' + (i % 2) as u8));
            }
            Op::Take(n) | Op::IoRead(n) => {
                let mut out = vec![0u8; *n];
                let got = match op {
                    Op::Take(_) => b.take(&mut out),
                    _ => embedded_io::Read::read(&mut b, &mut out).unwrap(),
                };
                let want: Vec<u8> = m.drain(..(*n).min(m.len())).collect();
                prop_assert_eq!(&out[..got], &want[..]);
            }
        }
        prop_assert_eq!(b.len(), m.len());
        let mut all = vec![0u8; m.len()];
        b.peek(0, &mut all);
        prop_assert!(all.iter().eq(m.iter()), "contents differ from the model");
        if cap != usize::MAX {
            prop_assert_eq!(b.room(), cap - m.len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ring_buffer_matches_a_vecdeque(ops in proptest::collection::vec(op(), 1..120)) {
        check(RingBuffer::<64>::new(), 64, &ops)?;
    }

    #[test]
    fn chain_buffer_matches_a_vecdeque(ops in proptest::collection::vec(op(), 1..120)) {
        check(ChainBuffer::new(), usize::MAX, &ops)?;
    }

    #[test]
    fn moving_one_chain_into_another_keeps_every_byte_in_order(a in bytes(300), b in bytes(300)) {
        let (mut x, mut y) = (ChainBuffer::new(), ChainBuffer::new());
        x.append(&a);
        y.append(&b);
        prop_assert_eq!(y.move_into(&mut x), b.len());
        prop_assert!(y.is_empty());
        let mut all = vec![0u8; a.len() + b.len()];
        prop_assert_eq!(x.peek(0, &mut all), a.len() + b.len());
        prop_assert_eq!(&all[..a.len()], &a[..]);
        prop_assert_eq!(&all[a.len()..], &b[..]);
    }
}

/// EL42: each end-of-line style, on the same mixed input.
#[test]
fn read_line_honours_each_end_of_line_style() {
    let input = b"one\r\ntwo\nthree\rfour\r\n\r\nfive\0six";
    // "five\0six" has no line end after it (but for NUL): it stays in the buffer.
    let cases: [(Eol, &[&[u8]]); 5] = [
        (Eol::Any, &[b"one", b"two", b"three", b"four"]),
        (Eol::Crlf, &[b"one", b"two", b"three\rfour", b""]),
        (Eol::CrlfStrict, &[b"one", b"two\nthree\rfour", b""]),
        (Eol::Lf, &[b"one\r", b"two", b"three\rfour\r", b"\r"]),
        (Eol::Nul, &[b"one\r\ntwo\nthree\rfour\r\n\r\nfive"]),
    ];
    for (style, want) in cases {
        let mut b = ChainBuffer::new();
        b.append(input);
        let mut out = [0u8; 64];
        let mut got: Vec<Vec<u8>> = vec![];
        while let Ok(Some(n)) = b.read_line(style, &mut out) {
            got.push(out[..n].to_vec());
        }
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
        assert_eq!(got, want, "{style:?}");
        assert!(!b.is_empty(), "the partial line stays");
    }
}

#[test]
fn a_line_split_across_chain_blocks_is_read_whole() {
    let mut b = ChainBuffer::new();
    let long = vec![b'x'; 5000];
    b.append(&long);
    b.append(b"\r");
    // A new block starts here: the CR and the LF are in different blocks.
    let space = b.reserve(9000);
    assert!(space.len() >= 9000);
    space[0] = b'\n';
    b.commit(1);
    let mut out = vec![0u8; 6000];
    assert_eq!(b.read_line(Eol::CrlfStrict, &mut out), Ok(Some(5000)));
    assert!(b.is_empty());
}

#[test]
fn a_line_split_across_the_ring_wrap_point_is_read_whole() {
    let mut r = RingBuffer::<16>::new();
    r.append(b"0123456789abc");
    r.drain(12);
    r.append(b"line\r\nrest");
    let (first, second) = r.as_slices();
    assert!(!first.is_empty() && !second.is_empty(), "the data wraps");
    let mut out = [0u8; 16];
    assert_eq!(r.read_line(Eol::Crlf, &mut out), Ok(Some(5)));
    assert_eq!(&out[..5], b"cline");
    assert_eq!(r.len(), 4);
    assert_eq!(r.make_contiguous(), b"rest");
}
