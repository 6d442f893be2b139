//! `dmn bench kernels`: each WGSL kernel against its Burn-op reference on the same device, in one
//! run, at a preset's sizes. Prints time per call, speedup, bytes moved and achieved bandwidth,
//! rated against a plain copy kernel measured in the same run.

use anyhow::{Result, bail};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::Args;
use dmn::DmnConfig;
use dmn::ops::{self, fixtures, fixtures::OpCase};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::time;
use crate::commands::device;

/// Arguments of `dmn bench kernels`.
#[derive(Debug, Clone, Args)]
pub struct KernelArgs {
    /// Device (the kernels run on wgpu devices only).
    #[arg(long, default_value = "wgpu")]
    pub device: String,
    /// Sizes of which preset (batch, segment, widths, slots, levels).
    #[arg(long, default_value = "small", value_parser = ["tiny", "small", "paper"])]
    pub preset: String,
    /// Batch size.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed calls per measurement, after two warm-up calls.
    #[arg(long, default_value_t = 10)]
    pub iters: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measure only these ops (repeat the flag for several); all of them by default.
    #[arg(long = "op", value_parser = OPS)]
    pub ops: Vec<String>,
}

/// The ops `dmn bench kernels` measures.
const OPS: [&str; 4] = ["scan", "memory_read", "memory_write", "retrieve"];

/// One op measured: kernel and reference, forward and forward + backward.
struct Measured {
    name: &'static str,
    kernel_s: f64,
    reference_s: f64,
    kernel_train_s: f64,
    reference_train_s: f64,
    /// Forward with every shader emptied (same bindings and dispatch): the cost around the
    /// shaders, which bounds the speedup at `reference_s / empty_s`.
    empty_s: f64,
    bytes: f64,
    rel_error: f32,
}

fn max_rel_error(got: TensorData, want: TensorData) -> f32 {
    let g = got.convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
    let w = want
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    let rms = (w.iter().map(|v| v * v).sum::<f32>() / w.len().max(1) as f32)
        .sqrt()
        .max(f32::MIN_POSITIVE);
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs() / b.abs().max(rms))
        .fold(0.0, f32::max)
}

/// Times `case` both ways on `device`.
fn measure(
    name: &'static str,
    case: &OpCase,
    bytes: f64,
    device: &Device,
    iters: usize,
) -> Result<Measured> {
    let op = &case.run;
    let plain: Vec<Tensor<3>> = case
        .inputs
        .iter()
        .map(|d| Tensor::from_data(d.clone(), device))
        .collect();
    let forward = |kernel: bool| time(device, iters, || op(&plain, kernel));

    let ad = device.clone().autodiff();
    let tracked: Vec<Tensor<3>> = case
        .inputs
        .iter()
        .zip(&case.grad)
        .map(|(d, &g)| {
            let t = Tensor::from_data(d.clone(), &ad);
            if g { t.require_grad() } else { t }
        })
        .collect();
    let train = |kernel: bool| {
        time(device, iters, || {
            let loss = op(&tracked, kernel)
                .into_iter()
                .map(|t| t.sum())
                .reduce(|a, b| a + b)
                .expect("an op has outputs");
            loss.backward()
        })
    };

    let mut rel_error = 0.0f32;
    for (k, r) in op(&plain, true).into_iter().zip(op(&plain, false)) {
        rel_error = rel_error.max(max_rel_error(k.into_data(), r.into_data()));
    }
    dmn::shaders::set_empty_kernels(true);
    let empty_s = forward(true);
    dmn::shaders::set_empty_kernels(false);
    Ok(Measured {
        name,
        empty_s: empty_s?,
        kernel_s: forward(true)?,
        reference_s: forward(false)?,
        kernel_train_s: train(true)?,
        reference_train_s: train(false)?,
        bytes,
        rel_error,
    })
}

pub(super) fn run(args: KernelArgs) -> Result<()> {
    if args.iters == 0 || args.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    let device = device(&args.device)?;
    if !ops::auto::kernels_run_on(true, &device) {
        bail!(
            "the WGSL kernels run on wgpu devices only; use --device wgpu (this build: {})",
            crate::commands::DEVICES
        );
    }
    let c = DmnConfig::preset(&args.preset, 256).expect("presets are validated by clap");
    let (b, l, d) = (args.batch, c.segment_len, c.d_model);
    let (e, n) = (c.expand * c.d_model, c.d_state);
    let (k, h, top_k) = (c.wm_slots, c.wm_heads, c.wm_top_k);
    let (levels, per) = (c.ltm_levels, c.ltm_entries_per_level);
    let chunk = c.scan_chunk;
    let mut rng = StdRng::seed_from_u64(1);
    const F: f64 = 4.0; // bytes per f32

    let wanted = |name: &str| args.ops.is_empty() || args.ops.iter().any(|o| o == name);
    let mut results = Vec::new();
    let mut sweep = Vec::new();

    if wanted("scan") {
        // scan: x, Δ, B, C, a_log, D, h0 in; y, h_last out.
        let case = fixtures::scan(&mut rng, [b, l, e, n], chunk);
        let bytes = F * (3 * b * l * e + 2 * b * l * n + 2 * b * e * n + e * n + e) as f64;
        results.push(measure("scan", &case, bytes, &device, args.iters)?);

        // What bounds the scan: the same sequence with other state sizes. The bytes moved barely
        // change with N (x, Δ and y dominate) while the work grows as N (one exp and two FMAs per
        // state); time that grows with N means the kernel is compute-bound on this device.
        for state in [1usize, 4, 16] {
            let case = fixtures::scan(&mut rng, [b, l, e, state], chunk);
            let plain: Vec<Tensor<3>> = case
                .inputs
                .iter()
                .map(|data| Tensor::from_data(data.clone(), &device))
                .collect();
            let seconds = time(&device, args.iters, || (case.run)(&plain, true))?;
            let moved = F * (3 * b * l * e + 2 * b * l * state + 2 * b * e * state) as f64;
            sweep.push((state, seconds, moved));
        }
    }
    if wanted("memory_read") {
        // memory_read: one query per token and head.
        let r = l * h;
        let case = fixtures::memory_read(&mut rng, [b, r, d, k], top_k);
        let bytes = F * (b * r * d + b * r + b * k * d + b * r * (d + k)) as f64;
        results.push(measure("memory_read", &case, bytes, &device, args.iters)?);
    }
    if wanted("memory_write") {
        // memory_write: one update of H heads.
        let decay = c.wm_usage_decay as f32;
        let case = fixtures::memory_write(&mut rng, [b, k, d, h], top_k, decay, false);
        let bytes = F * (2 * b * k * d + 3 * b * h * d + 3 * b * h + 7 * b * k + b * h * k) as f64;
        results.push(measure("memory_write", &case, bytes, &device, args.iters)?);
    }
    if wanted("retrieve") {
        // retrieve: every token against every level-packed entry.
        let entries = levels * per;
        let case = fixtures::retrieve(&mut rng, [b, l, d, levels, per]);
        let bytes = F * (b * l * d + b * entries * d + b * entries + b * l * (d + entries)) as f64;
        results.push(measure("retrieve", &case, bytes, &device, args.iters)?);
    }
    // The device's copy bandwidth, over a buffer large enough to leave the caches.
    let copy_len = 16 * 1024 * 1024;
    let src = Tensor::<1>::random([copy_len], Distribution::Normal(0.0, 1.0), &device);
    let copy_s = time(&device, args.iters, || dmn::shaders::copy(src.clone()))?;
    let copy_gbs = 2.0 * F * copy_len as f64 / copy_s / 1e9;

    report(&args, &results, &sweep, copy_gbs)
}

fn report(
    args: &KernelArgs,
    results: &[Measured],
    sweep: &[(usize, f64, f64)],
    copy_gbs: f64,
) -> Result<()> {
    let gbs = |m: &Measured| m.bytes / m.kernel_s / 1e9;
    let by = |name: &str| results.iter().find(|m| m.name == name);
    let max_rel_error = results.iter().map(|m| m.rel_error).fold(0.0f32, f32::max);
    if args.json {
        // An op left out with --op gives null.
        let speedup = |name: &str| by(name).map(|m| m.reference_s / m.kernel_s);
        let train_speedup = |name: &str| by(name).map(|m| m.reference_train_s / m.kernel_train_s);
        let bound = |name: &str| by(name).map(|m| m.reference_s / m.empty_s);
        let value = json!({
            "device": args.device,
            "preset": args.preset,
            "batch": args.batch,
            "scan_speedup": speedup("scan"),
            "scan_bandwidth_fraction": by("scan").map(|m| gbs(m) / copy_gbs),
            "memory_read_speedup": speedup("memory_read"),
            "memory_write_speedup": speedup("memory_write"),
            "retrieve_speedup": speedup("retrieve"),
            "scan_train_speedup": train_speedup("scan"),
            "memory_read_train_speedup": train_speedup("memory_read"),
            "memory_write_train_speedup": train_speedup("memory_write"),
            "retrieve_train_speedup": train_speedup("retrieve"),
            "scan_speedup_bound": bound("scan"),
            "memory_read_speedup_bound": bound("memory_read"),
            "memory_write_speedup_bound": bound("memory_write"),
            "retrieve_speedup_bound": bound("retrieve"),
            "copy_gb_per_s": copy_gbs,
            "scan_seconds_by_state_size": sweep
                .iter()
                .map(|(n, s, _)| json!({"n": n, "seconds": s}))
                .collect::<Vec<_>>(),
            "max_rel_error": max_rel_error,
        });
        println!("{value}");
        return Ok(());
    }
    println!(
        "kernels on {} ({} preset, batch {}), {} timed calls each; copy bandwidth {copy_gbs:.2} GB/s",
        args.device, args.preset, args.batch, args.iters
    );
    println!(
        "{:<13} {:>11} {:>11} {:>8} {:>10} {:>8} {:>9} {:>11} {:>11} {:>8} {:>9} {:>11} {:>8}",
        "op",
        "kernel",
        "reference",
        "speedup",
        "MB moved",
        "GB/s",
        "of copy",
        "kernel+bwd",
        "ref+bwd",
        "speedup",
        "rel err",
        "empty",
        "bound"
    );
    for m in results {
        println!(
            "{:<13} {:>9.3}ms {:>9.3}ms {:>7.1}x {:>10.2} {:>8.2} {:>8.0}% {:>9.3}ms {:>9.3}ms {:>7.1}x {:>9.1e} {:>9.3}ms {:>7.1}x",
            m.name,
            m.kernel_s * 1e3,
            m.reference_s * 1e3,
            m.reference_s / m.kernel_s,
            m.bytes / 1e6,
            gbs(m),
            100.0 * gbs(m) / copy_gbs,
            m.kernel_train_s * 1e3,
            m.reference_train_s * 1e3,
            m.reference_train_s / m.kernel_train_s,
            m.rel_error,
            m.empty_s * 1e3,
            m.reference_s / m.empty_s,
        );
    }
    println!(
        "empty: the kernel's forward with every shader emptied (same bindings, same dispatch); \
         bound: reference / empty, the most speedup any shader work could give"
    );
    if !sweep.is_empty() {
        println!("scan forward against state size N (same B, L, E):");
    }
    for (n, seconds, moved) in sweep {
        println!(
            "  N = {n:>2}: {:>8.3} ms, {:>6.2} MB moved, {:>5.2} GB/s ({:.0}% of copy)",
            seconds * 1e3,
            moved / 1e6,
            moved / seconds / 1e9,
            100.0 * moved / seconds / 1e9 / copy_gbs
        );
    }
    Ok(())
}
