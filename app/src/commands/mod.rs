//! One file per subcommand, plus what they share: devices and loading a trained run.

#[cfg(feature = "wgpu")]
pub mod bench;
pub mod eval;
pub mod export;
pub mod probe;
#[cfg(not(target_arch = "wasm32"))]
pub mod report;
pub mod stream;
pub mod train;

use std::path::Path;

use anyhow::{Result, bail};
use burn::tensor::Device;
use dmn::{Dmn, WriteRule};

use crate::checkpoint;
use crate::run_dir::{RunConfig, RunDir};

/// Device names this build accepts.
pub const DEVICES: &str = if cfg!(feature = "wgpu") {
    "`cpu` or `wgpu`"
} else {
    "`cpu`"
};

/// The device named on the command line (without autodiff).
pub fn device(name: &str) -> Result<Device> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => wgpu_device(),
        other => bail!("unknown device `{other}`; this build runs on {DEVICES}"),
    }
}

/// The default wgpu adapter, probed so that a machine without a GPU driver gets an error instead
/// of a panic deep inside the runtime.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    match dmn::shaders::wgpu_device() {
        Some(device) => Ok(device),
        None => bail!(
            "no usable wgpu adapter: install a Vulkan, Metal or DX12 driver (on Debian: mesa-vulkan-drivers), or use --device cpu"
        ),
    }
}

/// The devices of a comma-separated list (`cpu`, `cpu,cpu`, …), without autodiff.
pub fn devices(list: &str) -> Result<Vec<Device>> {
    list.split(',').map(|name| device(name.trim())).collect()
}

/// The run's config and its newest checkpoint's model, on `device`.
pub fn load_run(path: &Path, device: &Device) -> Result<(RunConfig, Dmn)> {
    let run = RunDir::open(path)?;
    let config = run.read_config()?;
    let Some(latest) = checkpoint::latest(&run.checkpoints())? else {
        bail!(
            "{} has no checkpoint yet; train it first (`dmn train … --out {}`)",
            path.display(),
            path.display()
        );
    };
    let model = config.model.init(device)?;
    let model = checkpoint::load_model(&latest, model)?;
    Ok((config, model))
}

/// The name a flag takes for `value` (clap's, so the two cannot differ).
pub fn value_name(value: impl clap::ValueEnum) -> String {
    let value = value.to_possible_value().expect("no variant is skipped");
    value.get_name().to_owned()
}

/// `--write-rule` of `dmn train` and `dmn eval`: how a working-memory write mixes its candidate
/// into a slot ([`WriteRule`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteRuleArg {
    /// A learned erase, then the candidate added.
    Additive,
    /// Every write erases fully where it writes.
    Replace,
}

impl From<WriteRuleArg> for WriteRule {
    fn from(rule: WriteRuleArg) -> Self {
        match rule {
            WriteRuleArg::Additive => WriteRule::Additive,
            WriteRuleArg::Replace => WriteRule::Replace,
        }
    }
}
