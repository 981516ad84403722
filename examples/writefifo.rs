//! writefifo: send each line typed on standard input into a FIFO.
//!
//! The companion of `eventlisten`. Opens `fifo.tmp` (or the path given) for writing — waiting for
//! a reader, as opening a FIFO does — then watches standard input with a persistent read event and
//! writes every complete line into the FIFO. Exits when standard input ends. Standard input may be
//! a terminal, a pipe or a regular file (which epoll cannot watch; the host then reports it always
//! ready, as poll would).

use std::process::ExitCode;

const NAME: &str = "writefifo";

#[cfg(unix)]
fn main() -> ExitCode {
    let path = match levent_examples::args(NAME, "[FIFO-PATH]   (default fifo.tmp)", 1) {
        levent_examples::Args::Run(a) => a.into_iter().next().unwrap_or_else(|| "fifo.tmp".into()),
        levent_examples::Args::Exit(code) => return code,
    };
    match send(std::path::Path::new(&path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => levent_examples::fail(NAME, e),
    }
}

#[cfg(unix)]
fn send(path: &std::path::Path) -> Result<(), String> {
    use levent_core::{Engine, Event, SourceKey};
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileTypeExt;

    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return Err(format!("{} is not a FIFO", path.display())),
        Err(e) => {
            return Err(format!(
                "cannot use {}: {e} (start eventlisten first)",
                path.display()
            ));
        }
    }
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;

    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut host = levent_hosts::default_host().map_err(|e| e.to_string())?;
    let mut engine: Engine<(), 2, 2, 1> = Engine::new(levent_hosts::PLATFORM);
    let key = SourceKey(stdin.as_raw_fd() as usize);
    let id = engine
        .start(Event::read(key).persist(), (), None)
        .map_err(|e| e.to_string())?;

    let mut pending = Vec::new();
    while engine.next(&mut host).map_err(|e| e.to_string())?.is_some() {
        // One read per readiness; everything it brought is consumed, so nothing waits in the
        // standard library's buffer where the host cannot see it.
        let chunk = input
            .fill_buf()
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        if chunk.is_empty() {
            engine.free(id).map_err(|e| e.to_string())?;
            if !pending.is_empty() {
                fifo.write_all(&pending)
                    .map_err(|e| format!("cannot write: {e}"))?;
            }
            continue;
        }
        pending.extend_from_slice(chunk);
        let n = chunk.len();
        input.consume(n);
        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = pending.drain(..=end).collect();
            fifo.write_all(&lines)
                .map_err(|e| format!("cannot write to {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    levent_examples::fail(NAME, "FIFOs do not exist on this platform")
}
