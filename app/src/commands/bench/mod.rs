//! `dmn bench`: what the WGSL kernels and a whole training step cost, measured in one run.

use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use clap::Subcommand;

mod kernels;
mod train;

pub use kernels::KernelArgs;
pub use train::TrainArgs;

/// What `dmn bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The WGSL kernels against their references (forward and forward + backward).
    Kernels(KernelArgs),
    /// Tokens per second of a training step and of inference, on each device, with the kernel
    /// launches of one step.
    Train(TrainArgs),
}

/// Runs `dmn bench`.
pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Kernels(args) => kernels::run(args),
        BenchCommand::Train(args) => train::run(args),
    }
}

/// Seconds per call of `f`, after two warm-up calls; outputs stay alive until the device is
/// synchronized, so no queued work can be skipped or left out of the timing.
fn time<T>(device: &Device, iters: usize, mut f: impl FnMut() -> T) -> Result<f64> {
    for _ in 0..2 {
        drop(f());
    }
    sync(device)?;
    let start = Instant::now();
    let outputs: Vec<T> = (0..iters).map(|_| f()).collect();
    sync(device)?;
    let seconds = start.elapsed().as_secs_f64() / iters as f64;
    drop(outputs);
    Ok(seconds)
}

/// Waits for everything queued on `device`.
fn sync(device: &Device) -> Result<()> {
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("device failed: {e:?}"))
}
