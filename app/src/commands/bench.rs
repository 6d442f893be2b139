//! `dmn bench kernels`: each WGSL kernel against its Burn-op reference on the same device, in one
//! run, at a preset's sizes. Prints time per call, speedup, bytes moved and achieved bandwidth,
//! rated against a plain copy kernel measured in the same run.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use clap::{Args, Subcommand};
use dmn::DmnConfig;
use dmn::ops;
use serde_json::json;

use super::device;

/// What `dmn bench` measures.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The WGSL kernels against their references (forward and forward + backward).
    Kernels(KernelArgs),
}

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

/// Runs `dmn bench`.
pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Kernels(args) => kernels(args),
    }
}

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

type Op = dyn Fn(&[Tensor<3>], bool) -> Vec<Tensor<3>>;

/// Seconds per call of `f`, after two warm-up calls; outputs stay alive until the device is
/// synchronized, so no queued work can be skipped or left out of the timing.
fn time<T>(device: &Device, iters: usize, f: impl Fn() -> T) -> Result<f64> {
    for _ in 0..2 {
        drop(f());
    }
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("device failed: {e:?}"))?;
    let start = Instant::now();
    let outputs: Vec<T> = (0..iters).map(|_| f()).collect();
    device
        .sync()
        .map_err(|e| anyhow::anyhow!("device failed: {e:?}"))?;
    let seconds = start.elapsed().as_secs_f64() / iters as f64;
    drop(outputs);
    Ok(seconds)
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

/// Times `op` both ways on `device` with `inputs` (rank 3; `grad` marks differentiable ones).
fn measure(
    name: &'static str,
    op: &Op,
    inputs: &[TensorData],
    grad: &[bool],
    bytes: f64,
    device: &Device,
    iters: usize,
) -> Result<Measured> {
    let plain: Vec<Tensor<3>> = inputs
        .iter()
        .map(|d| Tensor::from_data(d.clone(), device))
        .collect();
    let forward = |kernel: bool| time(device, iters, || op(&plain, kernel));

    let ad = device.clone().autodiff();
    let tracked: Vec<Tensor<3>> = inputs
        .iter()
        .zip(grad)
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

fn random(shape: [usize; 3], dist: Distribution) -> TensorData {
    Tensor::<3>::random(shape, dist, &Device::flex()).into_data()
}

fn kernels(args: KernelArgs) -> Result<()> {
    if args.iters == 0 || args.batch == 0 {
        bail!("--iters and --batch must be at least 1");
    }
    let device = device(&args.device)?;
    if !ops::auto::kernels_run_on(true, &device) {
        bail!(
            "the WGSL kernels run on wgpu devices only; use --device wgpu (this build: {})",
            super::DEVICES
        );
    }
    let c = DmnConfig::preset(&args.preset, 256).expect("presets are validated by clap");
    let (b, l, d) = (args.batch, c.segment_len, c.d_model);
    let (e, n) = (c.expand * c.d_model, c.d_state);
    let (k, h, top_k) = (c.wm_slots, c.wm_heads, c.wm_top_k);
    let (levels, per) = (c.ltm_levels, c.ltm_entries_per_level);
    let chunk = c.scan_chunk;
    let normal = Distribution::Normal(0.0, 1.0);
    let unit = Distribution::Uniform(0.0, 1.0);
    Device::flex().seed(1);
    const F: f64 = 4.0; // bytes per f32

    let wanted = |name: &str| args.ops.is_empty() || args.ops.iter().any(|o| o == name);
    let mut results = Vec::new();
    let mut sweep = Vec::new();

    if wanted("scan") {
        // scan: x, Δ, B, C, a_log, D, h0 in; y, h_last out.
        let scan_op = move |t: &[Tensor<3>], kernel: bool| {
            let (a_log, d_skip) = (t[2].clone().reshape([e, n]), t[5].clone().reshape([e]));
            let out = ops::auto::scan(
                kernel,
                t[0].clone(),
                t[1].clone(),
                a_log,
                t[3].clone(),
                t[4].clone(),
                d_skip,
                t[6].clone(),
                chunk,
            );
            vec![out.y, out.h_last]
        };
        let inputs = [
            random([b, l, e], normal),
            random([b, l, e], Distribution::Uniform(0.001, 0.1)),
            random([1, e, n], Distribution::Uniform(-1.0, 1.0)),
            random([b, l, n], normal),
            random([b, l, n], normal),
            random([1, 1, e], normal),
            random([b, e, n], normal),
        ];
        let bytes = F * (3 * b * l * e + 2 * b * l * n + 2 * b * e * n + e * n + e) as f64;
        results.push(measure(
            "scan", &scan_op, &inputs, &[true; 7], bytes, &device, args.iters,
        )?);

        // What bounds the scan: the same sequence with other state sizes. The bytes moved barely
        // change with N (x, Δ and y dominate) while the work grows as N (one exp and two FMAs per
        // state); time that grows with N means the kernel is compute-bound on this device.
        for state in [1usize, 4, 16] {
            let plain = [
                random([b, l, e], normal),
                random([b, l, e], Distribution::Uniform(0.001, 0.1)),
                random([e, state, 1], Distribution::Uniform(-1.0, 1.0)),
                random([b, l, state], normal),
                random([b, l, state], normal),
                random([e, 1, 1], normal),
                random([b, e, state], normal),
            ]
            .map(|data| Tensor::<3>::from_data(data, &device));
            let seconds = time(&device, args.iters, || {
                ops::auto::scan(
                    true,
                    plain[0].clone(),
                    plain[1].clone(),
                    plain[2].clone().reshape([e, state]),
                    plain[3].clone(),
                    plain[4].clone(),
                    plain[5].clone().reshape([e]),
                    plain[6].clone(),
                    chunk,
                )
                .y
            })?;
            let moved = F * (3 * b * l * e + 2 * b * l * state + 2 * b * e * state) as f64;
            sweep.push((state, seconds, moved));
        }
    }
    if wanted("memory_read") {
        // memory_read: one query per token and head.
        let r = l * h;
        let read_op = move |t: &[Tensor<3>], kernel: bool| {
            let out = ops::auto::memory_read(
                kernel,
                t[0].clone(),
                t[1].clone().reshape([b, r]),
                t[2].clone(),
                top_k,
            );
            vec![out.read, out.weights]
        };
        let inputs = [
            random([b, r, d], normal),
            random([b, r, 1], Distribution::Uniform(1.0, 6.0)),
            random([b, k, d], normal),
        ];
        let bytes = F * (b * r * d + b * r + b * k * d + b * r * (d + k)) as f64;
        results.push(measure(
            "memory_read",
            &read_op,
            &inputs,
            &[true; 3],
            bytes,
            &device,
            args.iters,
        )?);
    }
    if wanted("memory_write") {
        // memory_write: one update of H heads.
        let write_op = move |t: &[Tensor<3>], kernel: bool| {
            let slot = |i: usize| t[i].clone().reshape([b, k]);
            let head = |i: usize| t[i].clone().reshape([b, h]);
            let request = ops::WriteRequest {
                key: t[3].clone(),
                strength: head(4),
                erase: t[5].clone(),
                add: t[6].clone(),
                write_gate: head(7),
                alloc_gate: head(8),
                decay: slot(9),
            };
            let out = ops::auto::memory_write(
                kernel,
                t[0].clone(),
                slot(1),
                slot(2),
                request,
                top_k,
                c.wm_usage_decay as f32,
            );
            vec![out.slots, out.write_weights]
        };
        let inputs = [
            random([b, k, d], normal),
            random([b, k, 1], Distribution::Uniform(0.0, 20.0)),
            random([b, k, 1], Distribution::Uniform(0.0, 3.0)),
            random([b, h, d], normal),
            random([b, h, 1], Distribution::Uniform(1.0, 6.0)),
            random([b, h, d], unit),
            random([b, h, d], normal),
            random([b, h, 1], unit),
            random([b, h, 1], unit),
            random([b, k, 1], Distribution::Uniform(0.0, 0.3)),
        ];
        let grads = [true, false, false, true, true, true, true, true, true, true];
        let bytes = F * (2 * b * k * d + 3 * b * h * d + 3 * b * h + 5 * b * k + b * h * k) as f64;
        results.push(measure(
            "memory_write",
            &write_op,
            &inputs,
            &grads,
            bytes,
            &device,
            args.iters,
        )?);
    }
    if wanted("retrieve") {
        // retrieve: every token against every level-packed entry.
        let entries = levels * per;
        let retrieve_op = move |t: &[Tensor<3>], kernel: bool| {
            let out = ops::auto::retrieve(
                kernel,
                t[0].clone(),
                t[1].clone(),
                t[2].clone().reshape([levels]),
                t[3].clone().reshape([b, entries]).greater_elem(0.5),
            );
            vec![out.context, out.weights]
        };
        let inputs = [
            random([b, l, d], normal),
            random([b, entries, d], normal),
            random([1, 1, levels], normal),
            random([b, entries, 1], unit),
        ];
        let bytes = F * (b * l * d + b * entries * d + b * entries + b * l * (d + entries)) as f64;
        results.push(measure(
            "retrieve",
            &retrieve_op,
            &inputs,
            &[true, true, true, false],
            bytes,
            &device,
            args.iters,
        )?);
    }
    // The device's copy bandwidth, over a buffer large enough to leave the caches.
    let copy_len = 16 * 1024 * 1024;
    let src = Tensor::<1>::random([copy_len], normal, &device);
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
