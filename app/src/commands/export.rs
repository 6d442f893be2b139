//! `dmn export`: a run's newest weights as one safetensors file (tensor names in the README),
//! for other tools and for `dmn train --weights`.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use serde_json::json;

use super::load_run;
use crate::weights;

/// Arguments of `dmn export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Run directory (written by `dmn train`); its newest checkpoint is exported.
    #[arg(long)]
    pub run: PathBuf,
    /// File to write [default: RUN/model.safetensors]; its SHA-256 goes to FILE.sha256.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Format of the file.
    #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
    pub format: ExportFormat,
}

/// Formats `dmn export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Hugging Face safetensors, the model config in its metadata (`dmn_config`).
    Safetensors,
}

/// Runs `dmn export`; prints one JSON line naming what it wrote.
pub fn run(args: ExportArgs) -> Result<()> {
    let (config, model) = load_run(&args.run, &Device::flex())?;
    let out = args
        .out
        .unwrap_or_else(|| args.run.join("model.safetensors"));
    match args.format {
        ExportFormat::Safetensors => weights::save(&out, &model, &config.model)?,
    }
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let line = json!({
        "weights": out,
        "checksum": weights::checksum_path(&out),
        "bytes": bytes,
        "format": "safetensors",
    });
    println!("{line}");
    Ok(())
}
