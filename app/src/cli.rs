//! Command-line entry: parses arguments, runs a command, prints a one-line error on failure.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "wgpu")]
use crate::commands::bench;
use crate::commands::{eval, stream, train};

/// DMN — a Dynamic Memory Network for ultra-long sequences.
#[derive(Debug, Parser)]
#[command(name = "dmn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model on a task; writes config, metrics and checkpoints to a run directory.
    Train(train::TrainArgs),
    /// Evaluate a trained run at several distances (or bits per character on text).
    Eval(eval::EvalArgs),
    /// Stream one very long sequence through a trained run, reporting time and peak memory.
    Stream(stream::StreamArgs),
    /// Benchmark the WGSL kernels against their Burn-op references on the same device.
    #[cfg(feature = "wgpu")]
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Runs the command line; with no command, trains the embedded default.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        None => train::default_run(),
        Some(Command::Train(args)) => train::run(args).map(|_| ()),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Stream(args)) => stream::run(args),
        #[cfg(feature = "wgpu")]
        Some(Command::Bench(command)) => bench::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
