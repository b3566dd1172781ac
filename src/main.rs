//! The `accord` command: the CLI over the library, and `accord bench`, which measures it. Both
//! live beside the binary, not in the library the tests import.
#![forbid(unsafe_code)]

mod bench;
mod cli;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(cli::Cli::parse()).await
}
