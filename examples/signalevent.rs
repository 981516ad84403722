//! signalevent: count SIGINT three times, then end.
//!
//! The seed's signal program (libevent's `signal-test.c`), written in libevent's callback style
//! with `levent_core::callbacks`: a persistent SIGINT event prints `signal 2 received (N)` for each
//! delivery; the third callback deletes its own event, and the loop ends by itself, with exit
//! status 0, because nothing is left to wait for. Press Ctrl-C three times.
//!
//! No host-specific call is needed to catch the signal before the first Ctrl-C: the program says
//! it is waiting from a one-shot event (libevent's `event_base_once`), which runs in the loop's
//! first pass, after the loop's first turn has registered the signal.

use levent_core::callbacks::{self, Call, Callback, Ctl};
use levent_core::{Engine, Event, Mode};
use levent_hosts::signals::SIGINT;

struct App {
    received: u32,
}

fn on_sigint(app: &mut App, base: &mut Ctl<'_, App>, call: Call<()>) {
    for _ in 0..call.count {
        app.received += 1;
        println!("signal {SIGINT} received ({})", app.received);
        if app.received == 3 {
            let _ = base.del(call.id);
            break;
        }
    }
}

/// Runs once the loop has started: by then its first turn has registered everything added
/// before, so SIGINT is caught from here on.
fn on_start(_: &mut App, _: &mut Ctl<'_, App>, _: Call<()>) {
    println!("waiting for SIGINT (press Ctrl-C three times)");
}

fn main() -> std::io::Result<()> {
    if levent_examples::args("signalevent", "", 0)?.is_none() {
        return Ok(()); // --help
    }
    let mut host = levent_hosts::default_host()?;
    let mut base: Engine<Callback<App>, 3, 1, 1> = Engine::new(levent_hosts::PLATFORM);
    let on_signal = Callback::new(on_sigint, ());
    base.start(Event::signal(SIGINT).persist(), on_signal, None)?;
    base.once(Event::timer(), Callback::new(on_start, ()), None)?;
    let mut app = App { received: 0 };
    callbacks::run(&mut base, &mut host, &mut app, Mode::Default)?;
    Ok(())
}
