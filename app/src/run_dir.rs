//! A run directory: `config.json` (model and training settings), `metrics.jsonl` (one JSON object
//! per logged step) and `checkpoints/`. Every file that replaces another is written atomically:
//! a temporary file in the same directory, flushed, then renamed over the target.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dmn::DmnConfig;
use serde::{Deserialize, Serialize};

use crate::task_spec::TrainSpec;

/// What `config.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// The model.
    pub model: DmnConfig,
    /// The training settings.
    pub train: TrainSpec,
}

impl RunConfig {
    /// Parses and validates the text of a `config.json`; `source` names it in errors (a path,
    /// or the address the browser fetched it from).
    pub fn from_json(text: &str, source: &str) -> Result<Self> {
        let invalid = || format!("{source} is not a valid run config");
        let mut value: serde_json::Value = serde_json::from_str(text).with_context(invalid)?;
        // The model part goes through `DmnConfig::from_value`, which fills fields added since
        // the run was written and validates the rest.
        let model = value
            .get_mut("model")
            .map(serde_json::Value::take)
            .with_context(|| format!("{}: no \"model\" part", invalid()))?;
        let model =
            DmnConfig::from_value(model).map_err(|e| anyhow::anyhow!("{}: {e}", invalid()))?;
        let train = value
            .get_mut("train")
            .map(serde_json::Value::take)
            .with_context(|| format!("{}: no \"train\" part", invalid()))?;
        let train = serde_json::from_value(train).with_context(invalid)?;
        Ok(Self { model, train })
    }
}

/// `runs/<prefix>-<milliseconds since the epoch>`: a new run directory name.
pub fn fresh_run_path(prefix: &str) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    PathBuf::from("runs").join(format!("{prefix}-{stamp}"))
}

/// Writes `bytes` to `path` atomically (temporary file + fsync + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("cannot move {} into place", path.display()))?;
    Ok(())
}

/// A run directory on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// Its path.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates a new run directory; refuses one that already holds a run.
    pub fn create(path: &Path) -> Result<Self> {
        if path.join("config.json").exists() {
            bail!(
                "{} already holds a run; pass --resume to continue it, or choose another --out",
                path.display()
            );
        }
        fs::create_dir_all(path.join("checkpoints")).with_context(|| {
            format!(
                "cannot create the run directory {}; check the path and its permissions",
                path.display()
            )
        })?;
        let probe = path.join(".write-test");
        fs::write(&probe, b"")
            .with_context(|| format!("the run directory {} is not writable", path.display()))?;
        let _ = fs::remove_file(probe);
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing run directory.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.json").is_file() {
            bail!(
                "{} is not a run directory (no config.json); give the --out of a `dmn train` run",
                path.display()
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// `checkpoints/`
    pub fn checkpoints(&self) -> PathBuf {
        self.path.join("checkpoints")
    }

    /// `metrics.jsonl`
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.jsonl")
    }

    /// Writes `config.json`.
    pub fn write_config(&self, config: &RunConfig) -> Result<()> {
        write_atomic(
            &self.path.join("config.json"),
            serde_json::to_string_pretty(config)?.as_bytes(),
        )
    }

    /// Reads and validates `config.json`.
    pub fn read_config(&self) -> Result<RunConfig> {
        let p = self.path.join("config.json");
        let text =
            fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        RunConfig::from_json(&text, &p.display().to_string())
    }

    /// Appends one metrics line.
    pub fn append_metrics(&self, line: &serde_json::Value) -> Result<()> {
        let p = self.metrics_path();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .with_context(|| format!("cannot append to {}", p.display()))?;
        writeln!(f, "{line}").with_context(|| format!("cannot append to {}", p.display()))?;
        Ok(())
    }

    /// Drops metrics lines logged after `step` (a resumed run re-logs them), atomically.
    pub fn truncate_metrics_after(&self, step: u64) -> Result<()> {
        let p = self.metrics_path();
        let Ok(text) = fs::read_to_string(&p) else {
            return Ok(());
        };
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                    .is_some_and(|s| s <= step)
            })
            .collect();
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        write_atomic(&p, out.as_bytes())
    }
}
