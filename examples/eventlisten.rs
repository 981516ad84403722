//! eventlisten: listen on a FIFO and print everything written to it.
//!
//! The first seed program (libevent's `event-read-fifo.c`). Creates the FIFO `fifo.tmp` in the
//! current directory (or the path given), reusing one that is already there, registers a
//! persistent read event and prints what is written to it, one line of output per line of text,
//! as `read from fifo: <text>` (a last line without a newline is printed when its writer closes). When
//! the last writer closes, the FIFO is reopened, so the program keeps listening for the next writer
//! instead of spinning on end of file. Try it with `writefifo` in another terminal.

use std::io;

#[cfg(unix)]
fn open(path: &std::path::Path) -> io::Result<(std::fs::File, levent_core::SourceKey)> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let key = levent_core::SourceKey(fifo.as_raw_fd() as usize);
    Ok((fifo, key))
}

#[cfg(unix)]
fn main() -> io::Result<()> {
    use levent_core::{Engine, Event, Host};
    use levent_examples::Context;
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::FileTypeExt;

    let usage = "[FIFO-PATH]   (default fifo.tmp)";
    let Some(args) = levent_examples::args("eventlisten", usage, 1)? else {
        return Ok(()); // --help
    };
    let path = args.into_iter().next().unwrap_or_else(|| "fifo.tmp".into());
    let path = std::path::Path::new(&path);
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            let e = format!("{shown} exists and is not a FIFO");
            return Err(io::Error::new(ErrorKind::InvalidInput, e));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => levent_hosts::unix::mkfifo(path, 0o600)
            .context(format!("cannot create FIFO {shown}"))?,
        Err(e) => return Err(e).context(format!("cannot use {shown}")),
    }
    let (mut fifo, mut key) = open(path).context(format!("cannot open {shown}"))?;

    let mut host = levent_hosts::default_host()?;
    let mut engine: Engine<(), 2, 2, 1> = Engine::new(levent_hosts::PLATFORM);
    let mut reader = engine.start(Event::read(key).persist(), (), None)?;

    let mut buf = [0u8; 4096];
    // A line can arrive in pieces (a writer may write it with several calls): print whole lines.
    let mut partial: Vec<u8> = Vec::new();
    while engine.next(&mut host)?.is_some() {
        match fifo.read(&mut buf) {
            Ok(0) => {
                // The last writer closed: what it left without a newline is a line too. Reopen,
                // so that we wait for the next writer instead of being told about end of file
                // forever.
                if !partial.is_empty() {
                    println!("read from fifo: {}", String::from_utf8_lossy(&partial));
                    partial.clear();
                }
                host.forget(&mut engine, key);
                engine.free(reader)?;
                (fifo, key) = open(path).context(format!("cannot open {shown}"))?;
                reader = engine.start(Event::read(key).persist(), (), None)?;
            }
            Ok(n) => {
                partial.extend_from_slice(&buf[..n]);
                while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line[..end]);
                    println!("read from fifo: {}", text.trim_end_matches('\r'));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context(format!("cannot read {shown}")),
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
