//! writefifo: send each line typed on standard input into a FIFO.
//!
//! The companion of `eventlisten`. Opens `fifo.tmp` (or the path given) for writing — waiting for
//! a reader, as opening a FIFO does — then watches standard input with a persistent read event and
//! writes every complete line into the FIFO. Exits when standard input ends. Standard input may be
//! a terminal, a pipe or a regular file (which epoll cannot watch; the host then reports it always
//! ready, as poll would).

use std::io;

#[cfg(unix)]
fn main() -> io::Result<()> {
    use levent_core::{Engine, Event, SourceKey};
    use levent_examples::Context;
    use std::io::{BufRead, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::FileTypeExt;

    let usage = "[FIFO-PATH]   (default fifo.tmp)";
    let Some(args) = levent_examples::args("writefifo", usage, 1)? else {
        return Ok(()); // --help
    };
    let path = args.into_iter().next().unwrap_or_else(|| "fifo.tmp".into());
    let path = std::path::Path::new(&path);
    let shown = path.display();
    let meta =
        std::fs::metadata(path).context(format!("cannot use {shown} (start eventlisten first)"))?;
    if !meta.file_type().is_fifo() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{shown} is not a FIFO"),
        ));
    }
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .context(format!("cannot open {shown}"))?;

    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut host = levent_hosts::default_host()?;
    let mut engine: Engine<(), 2, 2, 1> = Engine::new(levent_hosts::PLATFORM);
    let key = SourceKey(stdin.as_raw_fd() as usize);
    let id = engine.start(Event::read(key).persist(), (), None)?;

    let mut pending = Vec::new();
    while engine.next(&mut host)?.is_some() {
        // One read per readiness; everything it brought is consumed, so nothing waits in the
        // standard library's buffer where the host cannot see it.
        let chunk = input.fill_buf().context("cannot read standard input")?;
        if chunk.is_empty() {
            engine.free(id)?;
            fifo.write_all(&pending)
                .context(format!("cannot write to {shown}"))?;
            continue;
        }
        pending.extend_from_slice(chunk);
        let n = chunk.len();
        input.consume(n);
        if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
            let lines: Vec<u8> = pending.drain(..=end).collect();
            fifo.write_all(&lines)
                .context(format!("cannot write to {shown}"))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "FIFOs do not exist on this platform",
    ))
}
