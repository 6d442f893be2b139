//! Checkpoints: `checkpoints/step-NNNNNNNN/` holds `model.bpk` (the Burn record, the same file
//! the browser loads), `optimizer.bpk`, `state.json` (step, seed, data position) and, for a
//! learned transfer policy, its learner's files (PPO's critic, Q-learning's target network and
//! schedule). A checkpoint
//! is assembled in a temporary directory and renamed into place, so a crash never leaves a
//! half-written one; only the newest `keep` are kept.
//!
//! Every checkpoint lists its files' SHA-256 in `SHA256SUMS` (the format `sha256sum -c` checks),
//! and a checkpoint is checked against it before anything of it is loaded: a changed or damaged
//! byte is an error naming the file, never a model that loads and answers wrongly. Checkpoints
//! written before checksums have no `SHA256SUMS` and load unchecked.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use dmn::Dmn;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::run_dir::write_atomic;

/// Where training stood when the checkpoint was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Last completed step.
    pub step: u64,
    /// Seed of the run (data of step `s` is drawn from `(seed, s)`, so this is the data position).
    pub seed: u64,
    /// Tokens trained on so far.
    pub tokens: u64,
}

fn step_dir(dir: &Path, step: u64) -> PathBuf {
    dir.join(format!("step-{step:08}"))
}

/// Checkpoint directories under `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((step, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a checkpoint and prunes old ones.
pub fn save(
    dir: &Path,
    model: &Dmn,
    optimizer: OptimizerRecord,
    extra: &[(&str, Vec<u8>)],
    state: &TrainState,
    keep: usize,
) -> Result<PathBuf> {
    let target = step_dir(dir, state.step);
    let tmp = dir.join(format!(
        ".tmp-step-{:08}-{}",
        state.step,
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .context("cannot serialize the model")?;
    let optim_bytes = optimizer
        .into_bytes()
        .context("cannot serialize the optimizer state")?;
    let state_bytes = serde_json::to_string_pretty(state)?.into_bytes();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("model.bpk", &model_bytes),
        ("optimizer.bpk", &optim_bytes),
        ("state.json", &state_bytes),
    ];
    files.extend(extra.iter().map(|(name, bytes)| (*name, bytes.as_slice())));
    let mut sums = String::new();
    for (name, bytes) in &files {
        write_atomic(&tmp.join(name), bytes)?;
        sums.push_str(&format!("{}  {name}\n", sha256_hex(bytes)));
    }
    write_atomic(&tmp.join(CHECKSUMS), sums.as_bytes())?;
    if target.exists() {
        fs::remove_dir_all(&target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
    }
    fs::rename(&tmp, &target)
        .with_context(|| format!("cannot move the checkpoint into {}", target.display()))?;
    let all = list(dir)?;
    if all.len() > keep.max(1) {
        for (_, old) in &all[..all.len() - keep.max(1)] {
            let _ = fs::remove_dir_all(old);
        }
    }
    Ok(target)
}

/// The checksum file of a checkpoint.
pub const CHECKSUMS: &str = "SHA256SUMS";

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks every file `checkpoint`'s `SHA256SUMS` lists against its checksum (nothing to check
/// in a checkpoint written without one).
pub fn verify(checkpoint: &Path) -> Result<()> {
    let sums_path = checkpoint.join(CHECKSUMS);
    let Ok(sums) = fs::read_to_string(&sums_path) else {
        return Ok(());
    };
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let Some((expected, name)) = line.split_once("  ") else {
            return Err(corrupt(&sums_path.display().to_string(), line));
        };
        let path = checkpoint.join(name);
        if sha256_hex(&read(&path)?) != expected {
            bail!(
                "{} is corrupt: it does not match its checksum in {CHECKSUMS} (the file was \
                 changed or damaged); delete this checkpoint to fall back to an earlier one",
                path.display()
            );
        }
    }
    Ok(())
}

/// The newest checkpoint, if any.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(dir)?.pop().map(|(_, p)| p))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| {
        format!(
            "checkpoint file {} is missing or unreadable",
            path.display()
        )
    })
}

/// The error for a checkpoint file that exists but cannot be decoded.
fn corrupt(source: &str, cause: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!(
        "{source} is corrupt ({cause:?}); delete this checkpoint to fall back to an earlier one"
    )
}

/// Loads the model weights of a checkpoint into `model`, once the checkpoint is verified.
pub fn load_model(checkpoint: &Path, model: Dmn) -> Result<Dmn> {
    verify(checkpoint)?;
    read_model(checkpoint, model)
}

fn read_model(checkpoint: &Path, model: Dmn) -> Result<Dmn> {
    let p = checkpoint.join("model.bpk");
    model_from_bytes(read(&p)?, &p.display().to_string(), model)
}

/// Loads the bytes of a `model.bpk` into `model`; `source` names the file in errors (the browser
/// fetches the same file over HTTP).
pub fn model_from_bytes(bytes: Vec<u8>, source: &str, model: Dmn) -> Result<Dmn> {
    let record =
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| corrupt(source, e))?;
    model
        .try_load_record(record)
        .map_err(|e| anyhow::anyhow!("{source} does not fit this model's config ({e:?})"))
}

/// The bytes of a checkpoint's optional file `name`, or `None` when it has none.
pub fn read_optional(checkpoint: &Path, name: &str) -> Option<Vec<u8>> {
    fs::read(checkpoint.join(name)).ok()
}

/// Loads what training continues from — the weights into `model`, the optimizer record and the
/// training state — once the checkpoint is verified (each file is hashed once).
pub fn load_all(checkpoint: &Path, model: Dmn) -> Result<(Dmn, OptimizerRecord, TrainState)> {
    verify(checkpoint)?;
    let (optimizer, state) = read_state(checkpoint)?;
    Ok((read_model(checkpoint, model)?, optimizer, state))
}

fn read_state(checkpoint: &Path) -> Result<(OptimizerRecord, TrainState)> {
    let p = checkpoint.join("optimizer.bpk");
    let optimizer = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(read(&p)?))
        .map_err(|e| corrupt(&p.display().to_string(), e))?;
    let s = checkpoint.join("state.json");
    let state: TrainState = serde_json::from_slice(&read(&s)?).with_context(|| {
        format!(
            "{} is corrupt; delete this checkpoint to fall back to an earlier one",
            s.display()
        )
    })?;
    if !checkpoint.ends_with(format!("step-{:08}", state.step)) {
        bail!(
            "{} says step {}, which does not match its directory name",
            s.display(),
            state.step
        );
    }
    Ok((optimizer, state))
}
