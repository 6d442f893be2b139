//! Command-line entry: parses arguments, runs a command, prints a one-line error on failure.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "wgpu")]
use crate::commands::bench;
use crate::commands::{eval, export, probe, report, stream, train};

/// DMN — a Dynamic Memory Network for ultra-long sequences.
#[derive(Debug, Parser)]
#[command(name = "dmn", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the desktop trainer: train and watch the memory work, live.
    Gui(crate::gui::GuiArgs),
    /// Train a model on a task; writes config, metrics and checkpoints to a run directory.
    Train(train::TrainArgs),
    /// Evaluate a trained run at several distances (or bits per character on text).
    Eval(eval::EvalArgs),
    /// Ask a trained needle, passkey or copy run what it answers on one input you choose.
    Probe(probe::ProbeArgs),
    /// Write a run's newest weights as a safetensors file.
    Export(export::ExportArgs),
    /// Train and evaluate every method of a suite alike; write results.md, results.json and
    /// plots.
    Report(report::ReportArgs),
    /// Stream one very long sequence through a trained run, reporting time and peak memory.
    Stream(stream::StreamArgs),
    /// Benchmark the WGSL kernels against their Burn-op references on the same device.
    #[cfg(feature = "wgpu")]
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Whether a window can open here (an X11 or Wayland display is set).
fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// `dmn gui` with its defaults: the embedded default run, in the window.
fn default_gui() -> crate::gui::GuiArgs {
    Cli::parse_from(["dmn", "gui"])
        .command
        .and_then(|c| match c {
            Command::Gui(args) => Some(args),
            _ => None,
        })
        .expect("`dmn gui` parses with its defaults")
}

/// Runs the command line; with no command, trains the embedded default: in the desktop window
/// when a display is available, on the terminal otherwise.
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
        None if has_display() => crate::gui::run(default_gui()),
        None => train::default_run(),
        Some(Command::Gui(args)) => crate::gui::run(args),
        Some(Command::Train(args)) => train::run(args).map(|_| ()),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Probe(args)) => probe::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Report(args)) => report::run(args),
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
