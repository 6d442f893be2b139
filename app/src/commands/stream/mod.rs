//! `dmn stream`: streaming inference in constant memory. With `--input`, a trained text run's
//! model reads a document of any size (a file, or standard input) and prints bits per character
//! region by region; its memory can be saved at the end and loaded to continue
//! (`--save-state`, `--load-state`). Without `--input`, a generated needle sequence of any
//! length, to see the memory hold over distance (its final memory can be saved too).

mod document;
mod needle;
mod regions;
mod timeline_file;
mod utf8;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Args;
use dmn::{DmnConfig, DmnState};

use crate::state_file::{self, StateFile, config_sha256};

/// Arguments of `dmn stream`.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Run directory written by `dmn train`.
    #[arg(long)]
    pub run: PathBuf,
    /// A UTF-8 document to run the model over, or `-` for standard input (a text run: its
    /// tokens are bytes). Without it, a generated needle sequence.
    #[arg(long)]
    pub input: Option<String>,
    /// Tokens per reported region of `--input` (one JSON line each).
    #[arg(long, default_value_t = 100_000, requires = "input")]
    pub region: u64,
    /// Start from the memory state in this file (written by `--save-state`) instead of an
    /// empty memory; the input continues where that stream stopped.
    #[arg(long, requires = "input")]
    pub load_state: Option<PathBuf>,
    /// Write the memory state at the end of the stream to this file (safetensors): with
    /// `--input`, to continue later with `--load-state` or to fork two continuations from; of a
    /// needle stream, to ask questions of that memory (`dmn probe --load-state`, the browser
    /// demo's `&state=URL`).
    #[arg(long)]
    pub save_state: Option<PathBuf>,
    /// Write the memory's timeline over the whole stream to this file (JSON, bounded in size
    /// however long the stream: at most 4,096 buckets along the token axis, the segments
    /// around the needle and the question in full, and the answer's provenance), for the
    /// desktop trainer and the browser page to open.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Tokens to stream (generated needle sequence).
    #[arg(long, default_value_t = 1_000_000, conflicts_with = "input")]
    pub length: u64,
    /// Seed of the generated sequence.
    #[arg(long, default_value_t = 7, conflicts_with = "input")]
    pub seed: u64,
    /// Device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `dmn stream`.
pub fn run(args: StreamArgs) -> Result<()> {
    match &args.input {
        Some(input) => document::run(&args, input),
        None => needle::run(&args),
    }
}

/// Saves `state` of `args.run`'s model (config `config`) to `args.save_state`, if given, after
/// `position` tokens of which `pending` were read but not yet run; returns where it went.
fn save_state(
    args: &StreamArgs,
    config: &DmnConfig,
    position: u64,
    pending: Vec<u32>,
    state: &DmnState,
) -> Result<Option<String>> {
    let Some(path) = &args.save_state else {
        return Ok(None);
    };
    let file = StateFile {
        run: args.run.display().to_string(),
        config_sha256: config_sha256(config),
        position,
        pending,
        snapshot: state.snapshot(),
    };
    state_file::save(path, &file)?;
    Ok(Some(path.display().to_string()))
}

/// Refuses an output file whose folder does not exist, before a stream that may take hours.
fn check_folder(flag: &str, path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if dir.is_some_and(|d| !d.is_dir()) {
        bail!(
            "{flag} {}: its folder does not exist; create it first",
            path.display()
        );
    }
    Ok(())
}
