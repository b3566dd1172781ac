//! Standard output and error, written without panicking. `println!` panics when the reader has
//! gone (`accord list | head -1` once `head` has its line); here a closed standard output ends
//! the process quietly with status 0, as ripgrep does: the reader took what it wanted. Any other
//! failure to write is an error, said on standard error.

use std::io::{self, Write};

/// Writes `text` and a newline to standard output.
pub fn line(text: &str) {
    let mut out = io::stdout().lock();
    if let Err(err) = writeln!(out, "{text}").and_then(|()| out.flush()) {
        if err.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        note(&format!("error: writing to standard output: {err}"));
        std::process::exit(1);
    }
}

/// Writes `text` and a newline to standard error; if that fails there is nowhere left to say so.
pub fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Whether `err` is, or was caused by, a write to a closed pipe: a command that returns it ends
/// quietly.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|err| err.kind() == io::ErrorKind::BrokenPipe))
}
