//! WebSocket frames: never a panic, and the same items and verdict whether the input arrives
//! whole or in pieces cut where a hash of the input says (keeping unused bytes, as a caller
//! must); every piece is within its frame, a text message is valid UTF-8 once it ends, and no
//! message is longer than the limit.
#![no_main]

use levent_core::ws::{Incoming, Receiver, Role, WsConfig};
use libfuzzer_sys::fuzz_target;

mod common;

fn run(raw: &[u8], role: Role, cfg: WsConfig, step: usize) -> String {
    let mut rx = Receiver::new(role, cfg);
    let mut out = String::new();
    let (mut pending, mut msg, mut text) = (Vec::new(), Vec::new(), false);
    for piece in raw.chunks(step.max(1)) {
        pending.extend_from_slice(piece);
        loop {
            let mut buf = pending.clone();
            let (used, item) = match rx.next(&mut buf) {
                Ok(s) => s,
                Err(e) => return format!("{out} error {}", e.close_code()),
            };
            assert!(used <= pending.len());
            match item {
                Some(Incoming::Data {
                    text: t,
                    first,
                    last,
                    data,
                }) => {
                    if first {
                        assert!(msg.is_empty());
                        text = t;
                    }
                    msg.extend_from_slice(data);
                    assert!(msg.len() <= cfg.max_message);
                    if last {
                        if text {
                            assert!(core::str::from_utf8(&msg).is_ok());
                        }
                        out.push_str(&format!("[{text} {:?}]", msg));
                        msg.clear();
                    }
                }
                Some(Incoming::Ping(p)) => out.push_str(&format!("ping{p:?}")),
                Some(Incoming::Pong(p)) => out.push_str(&format!("pong{p:?}")),
                Some(Incoming::Close { code, reason }) => {
                    out.push_str(&format!("close {code:?} {reason:?}"))
                }
                None => {}
            }
            pending.drain(..used);
            if used == 0 {
                break;
            }
        }
    }
    format!("{out} partial {}", msg.len())
}

/// Longer inputs add no new frame shapes (the 16- and 64-bit length fields start at 126 and
/// 65,536 bytes of payload, and a cut frame still carries its header), while the harness's copy
/// of the unread bytes at every step makes their cost quadratic: a 64 KiB input cut in 1-byte
/// pieces copied gigabytes and ran the fuzzer out of memory.
const MAX_INPUT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_INPUT {
        return;
    }
    let h = common::pick(data);
    let role = if h & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let cfg = WsConfig {
        max_message: [16, 125, 1000, 1 << 20][(h >> 1) as usize % 4],
    };
    let whole = run(data, role, cfg, data.len());
    let cut = run(data, role, cfg, 1 + (h >> 3) as usize % 7);
    assert_eq!(whole, cut);
});
