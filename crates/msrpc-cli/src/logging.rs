//! The tool's `tracing` subscriber: `fmt` lines on stderr under an `EnvFilter` (`--log-level`,
//! `RUST_LOG`, `MSRPC_LOG`).
//!
//! The filter can be swapped while the process runs, and the lines sent to nowhere: `msrpc bench`
//! measures the null call with a subscriber that listens to every call's span at `debug` and
//! formats it, without the cost of the terminal ([`listen_to_calls`]).

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

static RELOAD: OnceLock<(reload::Handle<EnvFilter, Registry>, String)> = OnceLock::new();
/// While set, formatted lines are dropped instead of written to stderr.
static TO_SINK: AtomicBool = AtomicBool::new(false);

/// Stderr, or nowhere while [`listen_to_calls`] holds.
enum Out {
    Stderr(io::Stderr),
    Sink(io::Sink),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Stderr(e) => e.write(buf),
            Out::Sink(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stderr(e) => e.flush(),
            Out::Sink(s) => s.flush(),
        }
    }
}

fn out() -> Out {
    if TO_SINK.load(Ordering::Relaxed) {
        Out::Sink(io::sink())
    } else {
        Out::Stderr(io::stderr())
    }
}

/// Installs the subscriber with these (already checked) `EnvFilter` directives.
pub(crate) fn init(spec: String) {
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("warn"));
    let (filter, handle) = reload::Layer::new(filter);
    let _ = RELOAD.set((handle, spec));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(io::stderr().is_terminal())
                .with_writer(out),
        )
        .init();
}

/// While the guard lives, msrpc's spans and events at `debug` are enabled and formatted, and the
/// lines dropped; the filter given at start comes back when it is dropped.
#[derive(Debug)]
pub(crate) struct Listening(());

pub(crate) fn listen_to_calls() -> Result<Listening, String> {
    let (handle, _) = RELOAD.get().ok_or("no subscriber installed")?;
    TO_SINK.store(true, Ordering::Relaxed);
    handle
        .reload(EnvFilter::new("warn,msrpc=debug,msrpc_proto=debug"))
        .map_err(|e| e.to_string())?;
    Ok(Listening(()))
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some((handle, spec)) = RELOAD.get() {
            let _ =
                handle.reload(EnvFilter::try_new(spec).unwrap_or_else(|_| EnvFilter::new("warn")));
        }
        TO_SINK.store(false, Ordering::Relaxed);
    }
}
