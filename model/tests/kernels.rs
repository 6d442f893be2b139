//! The WGSL kernels against their references, forward values and every gradient, on a real wgpu
//! device (Mesa's lavapipe in CI). The reference runs on the CPU from the same input data.
//!
//! Without a wgpu driver, or in a build without the `wgpu` feature, each test prints that it was
//! skipped; with `DMN_REQUIRE_WGPU` set it fails instead, so CI cannot pass without running them.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use dmn::ops;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::cell::RefCell;

/// Tolerance of every comparison: relative error per element. The denominator has a floor at
/// the tensor's RMS, so that entries that happen to be near zero are compared at the tensor's
/// scale, and at 1 % of the largest RMS among the op's outputs and gradients: a gradient can be
/// a near-cancelling sum of terms of that size, whose f32 rounding no order of summation avoids.
const TOLERANCE: f32 = 1e-4;

fn wgpu() -> Option<Device> {
    #[cfg(feature = "wgpu")]
    let device = dmn::shaders::wgpu_device();
    #[cfg(not(feature = "wgpu"))]
    let device: Option<Device> = None;
    match device {
        Some(device) => {
            assert!(ops::auto::kernels_run_on(true, &device));
            Some(device)
        }
        None => {
            let why = if cfg!(feature = "wgpu") {
                "no usable wgpu adapter"
            } else {
                "this build has no `wgpu` feature"
            };
            assert!(
                std::env::var_os("DMN_REQUIRE_WGPU").is_none(),
                "DMN_REQUIRE_WGPU is set but {why}"
            );
            eprintln!("SKIPPED: {why}: the WGSL kernels were NOT tested");
            None
        }
    }
}

fn values(t: &TensorData) -> Vec<f32> {
    t.clone().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn rms(t: &TensorData) -> f32 {
    let v = values(t);
    (v.iter().map(|x| x * x).sum::<f32>() / v.len().max(1) as f32).sqrt()
}

/// Largest relative difference between `got` and `want`, the denominator floored at `floor`
/// and at the RMS of `want` (see [`TOLERANCE`]).
fn rel_err(got: &TensorData, want: &TensorData, floor: f32) -> f32 {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    let (g, w) = (values(got), values(want));
    let rms = rms(want).max(floor).max(f32::MIN_POSITIVE);
    g.iter()
        .zip(&w)
        .map(|(a, b)| {
            assert!(a.is_finite(), "non-finite kernel output {a}");
            (a - b).abs() / b.abs().max(rms)
        })
        .fold(0.0, f32::max)
}

thread_local! {
    /// Test data comes from a generator per test thread: tests run in parallel, and a shared
    /// device generator would hand each of them a different stream from run to run.
    static RNG: RefCell<StdRng> = RefCell::new(StdRng::seed_from_u64(0));
}

fn seed_data(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = StdRng::seed_from_u64(seed));
}

/// Random data of shape `[a, b, c]` from this thread's generator.
fn random(shape: [usize; 3], dist: Distribution) -> TensorData {
    let n = shape.iter().product();
    let values: Vec<f32> = RNG.with(|r| {
        let mut rng = r.borrow_mut();
        (0..n)
            .map(|_| match dist {
                Distribution::Uniform(lo, hi) => rng.random_range(lo..hi) as f32,
                Distribution::Normal(mean, std) => {
                    // Box–Muller
                    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
                    (mean + std * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
                }
                _ => unreachable!("the tests draw normal and uniform data only"),
            })
            .collect()
    });
    TensorData::new(values, shape)
}

/// An op under test: rank-3 inputs (lower ranks are passed as `[1, …]` and reshaped inside)
/// to rank-3 outputs; `kernel` picks the WGSL kernels (true) or the reference (false).
type Op = dyn Fn(&[Tensor<3>], bool) -> Vec<Tensor<3>>;

/// Outputs and the gradients of every input that `grad` marks, under the loss
/// `Σ_i Σ output_i ⊙ w_i` with random weights, so every gradient entry is distinct.
fn run(
    op: &Op,
    data: &[TensorData],
    grad: &[bool],
    device: &Device,
    kernel: bool,
) -> Vec<TensorData> {
    let device = device.clone().autodiff();
    let inputs: Vec<Tensor<3>> = data
        .iter()
        .zip(grad)
        .map(|(d, &g)| {
            let t = Tensor::<3>::from_data(d.clone(), &device);
            if g { t.require_grad() } else { t }
        })
        .collect();
    let outputs = op(&inputs, kernel);
    seed_data(4242);
    let mut loss = Tensor::<1>::zeros([1], &device);
    for out in &outputs {
        let w = Tensor::<3>::from_data(random(out.dims(), Distribution::Normal(0.0, 1.0)), &device);
        loss = loss + (out.clone() * w).sum();
    }
    let grads = loss.backward();
    let mut all: Vec<TensorData> = outputs.into_iter().map(|t| t.into_data()).collect();
    for (t, &g) in inputs.iter().zip(grad) {
        if g {
            all.push(
                t.grad(&grads)
                    .expect("an input marked for gradient got none")
                    .into_data(),
            );
        }
    }
    all
}

/// Worst relative error between kernel and CPU reference over outputs and gradients, with the
/// index of the worst tensor (outputs first, then the gradients in input order).
fn parity(gpu: &Device, op: &Op, data: &[TensorData], grad: &[bool]) -> (f32, usize) {
    let want = run(op, data, grad, &Device::flex(), false);
    let got = run(op, data, grad, gpu, true);
    assert_eq!(got.len(), want.len());
    let floor = 0.01 * want.iter().map(rms).fold(0.0, f32::max);
    got.iter()
        .zip(&want)
        .map(|(g, w)| rel_err(g, w, floor))
        .enumerate()
        .fold((0.0, 0), |a, (i, e)| if e > a.0 { (e, i) } else { a })
}

fn scan_op(inputs: &[Tensor<3>], kernel: bool) -> Vec<Tensor<3>> {
    let [x, delta, a_log, b, c, d_skip, h0] = [0, 1, 2, 3, 4, 5, 6].map(|i| inputs[i].clone());
    let [_, e, n] = a_log.dims();
    let (a_log, d_skip) = (a_log.reshape([e, n]), d_skip.reshape([e]));
    let out = if kernel {
        ops::auto::scan(true, x, delta, a_log, b, c, d_skip, h0, 8)
    } else {
        ops::scan(x, delta, a_log, b, c, d_skip, h0, 8)
    };
    vec![out.y, out.h_last]
}

/// Inputs of a scan `[B, L, E, N]`: x, Δ, a_log, B, C, D, h0.
fn scan_data([bs, l, e, n]: [usize; 4], seed: u64) -> Vec<TensorData> {
    seed_data(seed);
    let normal = Distribution::Normal(0.0, 1.0);
    vec![
        random([bs, l, e], normal),
        random([bs, l, e], Distribution::Uniform(0.01, 0.5)),
        random([1, e, n], Distribution::Uniform(-1.0, 1.0)),
        random([bs, l, n], normal),
        random([bs, l, n], normal),
        random([1, 1, e], normal),
        random([bs, e, n], normal),
    ]
}

const SCAN_OUTPUTS: [&str; 9] = ["y", "h_last", "dx", "dΔ", "da_log", "dB", "dC", "dD", "dh0"];

fn scan_parity(gpu: &Device, dims: [usize; 4], seed: u64) -> (f32, &'static str) {
    let (err, i) = parity(gpu, &scan_op, &scan_data(dims, seed), &[true; 7]);
    (err, SCAN_OUTPUTS[i])
}

#[test]
fn scan_kernel_matches_reference_forward_and_backward() {
    let Some(gpu) = wgpu() else { return };
    // Length 1; sizes that are not multiples of the workgroup (64 channels) or of the tile;
    // several state sizes (they change the tile and the backward workgroup); a long sequence.
    for (i, dims) in [
        [1, 1, 1, 1],
        [2, 37, 70, 16],
        [3, 100, 5, 3],
        [2, 64, 130, 32],
        [1, 8192, 8, 16],
    ]
    .into_iter()
    .enumerate()
    {
        let (err, name) = scan_parity(&gpu, dims, 100 + i as u64);
        eprintln!("scan {dims:?}: max rel error {err:.2e} ({name})");
        assert!(
            err <= TOLERANCE,
            "scan {dims:?}: {name} differs by {err:.2e}"
        );
    }
}

#[test]
fn scan_kernel_streams_in_pieces_like_one_call() {
    let Some(gpu) = wgpu() else { return };
    let data = scan_data([2, 50, 20, 8], 7);
    let t3 = |i: usize| Tensor::<3>::from_data(data[i].clone(), &gpu);
    let a_log = t3(2).reshape([20, 8]);
    let d_skip = t3(5).reshape([20]);
    let run = |start: usize, len: usize, h0: Tensor<3>| {
        ops::auto::scan(
            true,
            t3(0).narrow(1, start, len),
            t3(1).narrow(1, start, len),
            a_log.clone(),
            t3(3).narrow(1, start, len),
            t3(4).narrow(1, start, len),
            d_skip.clone(),
            h0,
            8,
        )
    };
    let whole = run(0, 50, t3(6));
    let first = run(0, 21, t3(6));
    let second = run(21, 29, first.h_last);
    let y = Tensor::cat(vec![first.y, second.y], 1);
    let err = rel_err(&y.into_data(), &whole.y.into_data(), 0.0).max(rel_err(
        &second.h_last.into_data(),
        &whole.h_last.into_data(),
        0.0,
    ));
    assert!(err <= TOLERANCE, "streamed scan differs by {err:.2e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scan_kernel_matches_reference_over_shapes(
        bs in 1usize..4,
        l in 1usize..70,
        e in 1usize..90,
        n in prop::sample::select(vec![1usize, 2, 4, 5, 8, 16]),
        seed in 0u64..1000,
    ) {
        let Some(gpu) = wgpu() else { return Ok(()) };
        let (err, name) = scan_parity(&gpu, [bs, l, e, n], seed);
        prop_assert!(err <= TOLERANCE, "scan {:?}: {} differs by {:.2e}", [bs, l, e, n], name, err);
    }
}

fn memory_read_op(top_k: usize) -> impl Fn(&[Tensor<3>], bool) -> Vec<Tensor<3>> {
    move |inputs: &[Tensor<3>], kernel: bool| {
        let [query, strength, slots] = [0, 1, 2].map(|i| inputs[i].clone());
        let [b, r, _] = query.dims();
        let strength = strength.reshape([b, r]);
        let out = if kernel {
            ops::auto::memory_read(true, query, strength, slots, top_k)
        } else {
            ops::memory_read(query, strength, slots, top_k)
        };
        vec![out.read, out.weights]
    }
}

#[test]
fn memory_read_kernel_matches_reference_forward_and_backward() {
    let Some(gpu) = wgpu() else { return };
    // [B, R, d, K, top_k]: the small preset's sizes; a dense read (top_k = K); odd sizes and
    // d > 64 (several values per thread in the slot kernel); the paper's 512 slots.
    for (i, [b, r, d, k, top_k]) in [
        [2, 70, 96, 64, 8],
        [1, 1, 5, 3, 3],
        [3, 130, 17, 16, 4],
        [2, 9, 200, 7, 2],
        [1, 8, 40, 512, 16],
    ]
    .into_iter()
    .enumerate()
    {
        seed_data(300 + i as u64);
        let data = vec![
            random([b, r, d], Distribution::Normal(0.0, 1.0)),
            random([b, r, 1], Distribution::Uniform(1.0, 6.0)),
            random([b, k, d], Distribution::Normal(0.0, 1.0)),
        ];
        let (err, worst) = parity(&gpu, &memory_read_op(top_k), &data, &[true; 3]);
        let name = ["read", "weights", "dquery", "dstrength", "dslots"][worst];
        eprintln!(
            "memory_read {:?}: max rel error {err:.2e} ({name})",
            [b, r, d, k, top_k]
        );
        assert!(
            err <= TOLERANCE,
            "memory_read {:?}: {name} differs by {err:.2e}",
            [b, r, d, k, top_k]
        );
    }
}

fn memory_write_op(top_k: usize) -> impl Fn(&[Tensor<3>], bool) -> Vec<Tensor<3>> {
    move |t: &[Tensor<3>], kernel: bool| {
        let [b, k, _] = t[0].dims();
        let [_, h, _] = t[3].dims();
        let per_slot = |i: usize| t[i].clone().reshape([b, k]);
        let per_head = |i: usize| t[i].clone().reshape([b, h]);
        let request = ops::WriteRequest {
            key: t[3].clone(),
            strength: per_head(4),
            erase: t[5].clone(),
            add: t[6].clone(),
            write_gate: per_head(7),
            alloc_gate: per_head(8),
            decay: per_slot(9),
        };
        let (slots, age, usage) = (t[0].clone(), per_slot(1), per_slot(2));
        let out = if kernel {
            ops::auto::memory_write(true, slots, age, usage, request, top_k, 0.9)
        } else {
            ops::memory_write(slots, age, usage, request, top_k, 0.9)
        };
        vec![
            out.slots,
            out.write_weights,
            out.age.reshape([b, k, 1]),
            out.usage.reshape([b, k, 1]),
        ]
    }
}

/// Inputs of a write `[B, K, d, H]`; `empty`: zero slots, age and usage (a fresh memory, where
/// every score and every usage ties).
fn memory_write_data([b, k, d, h]: [usize; 4], empty: bool) -> Vec<TensorData> {
    let normal = Distribution::Normal(0.0, 1.0);
    let unit = Distribution::Uniform(0.0, 1.0);
    let zeros = |s: [usize; 3]| Tensor::<3>::zeros(s, &Device::flex()).into_data();
    let (slots, age, usage) = if empty {
        (zeros([b, k, d]), zeros([b, k, 1]), zeros([b, k, 1]))
    } else {
        (
            random([b, k, d], normal),
            random([b, k, 1], Distribution::Uniform(0.0, 20.0)),
            random([b, k, 1], Distribution::Uniform(0.0, 3.0)),
        )
    };
    vec![
        slots,
        age,
        usage,
        random([b, h, d], normal),
        random([b, h, 1], Distribution::Uniform(1.0, 6.0)),
        random([b, h, d], unit),
        random([b, h, d], normal),
        random([b, h, 1], unit),
        random([b, h, 1], unit),
        random([b, k, 1], Distribution::Uniform(0.0, 0.3)),
    ]
}

/// Gradients for everything but age and usage, which are statistics.
const WRITE_GRADS: [bool; 10] = [true, false, false, true, true, true, true, true, true, true];
const WRITE_NAMES: [&str; 12] = [
    "slots",
    "write_weights",
    "age",
    "usage",
    "dslots",
    "dkey",
    "dstrength",
    "derase",
    "dadd",
    "dwrite_gate",
    "dalloc_gate",
    "ddecay",
];

#[test]
fn memory_write_kernel_matches_reference_forward_and_backward() {
    let Some(gpu) = wgpu() else { return };
    // [B, K, d, H, top_k]: the small preset; one slot per head; odd sizes; the paper's 512
    // slots and 8 heads.
    for (i, [b, k, d, h, top_k]) in [
        [2, 64, 96, 4, 8],
        [1, 4, 8, 1, 1],
        [3, 16, 70, 2, 4],
        [1, 512, 32, 8, 16],
    ]
    .into_iter()
    .enumerate()
    {
        seed_data(500 + i as u64);
        let data = memory_write_data([b, k, d, h], false);
        let (err, worst) = parity(&gpu, &memory_write_op(top_k), &data, &WRITE_GRADS);
        let name = WRITE_NAMES[worst];
        eprintln!(
            "memory_write {:?}: max rel error {err:.2e} ({name})",
            [b, k, d, h, top_k]
        );
        assert!(
            err <= TOLERANCE,
            "memory_write {:?}: {name} differs by {err:.2e}",
            [b, k, d, h, top_k]
        );
    }
}

#[test]
fn kernels_break_ties_like_the_reference_on_an_empty_memory() {
    let Some(gpu) = wgpu() else { return };
    // A fresh memory: every cosine is 0 and every usage is 0, so addressing is decided by ties
    // alone (the lower slot index wins on both sides).
    seed_data(9);
    let data = memory_write_data([2, 16, 32, 2], true);
    let (err, worst) = parity(&gpu, &memory_write_op(4), &data, &WRITE_GRADS);
    assert!(
        err <= TOLERANCE,
        "empty-memory write: {} differs by {err:.2e}",
        WRITE_NAMES[worst]
    );
    let read = vec![
        random([2, 10, 32], Distribution::Normal(0.0, 1.0)),
        random([2, 10, 1], Distribution::Uniform(1.0, 6.0)),
        Tensor::<3>::zeros([2, 16, 32], &Device::flex()).into_data(),
    ];
    let (err, worst) = parity(&gpu, &memory_read_op(4), &read, &[true, true, false]);
    assert!(
        err <= TOLERANCE,
        "empty-memory read: output {worst} differs by {err:.2e}"
    );
}

fn retrieve_op(inputs: &[Tensor<3>], kernel: bool) -> Vec<Tensor<3>> {
    let [query, ltm, bias, valid] = [0, 1, 2, 3].map(|i| inputs[i].clone());
    let [b, e, _] = ltm.dims();
    let [_, _, m] = bias.dims();
    let bias = bias.reshape([m]);
    let valid = valid.reshape([b, e]).greater_elem(0.5);
    let out = if kernel {
        ops::auto::retrieve(true, query, ltm, bias, valid)
    } else {
        ops::retrieve(query, ltm, bias, valid)
    };
    vec![out.context, out.weights]
}

#[test]
fn retrieve_kernel_matches_reference_forward_and_backward() {
    let Some(gpu) = wgpu() else { return };
    // [B, L, d, levels, entries per level]; entries are valid at random, and the last batch
    // row of the first case has none (its weights must be all 0).
    for (i, [b, l, d, m, per]) in [[3, 100, 96, 5, 4], [1, 1, 8, 1, 1], [2, 70, 130, 3, 3]]
        .into_iter()
        .enumerate()
    {
        seed_data(700 + i as u64);
        let e = m * per;
        let mut valid = values(&random([b, e, 1], Distribution::Uniform(0.0, 1.0)))
            .into_iter()
            .map(|v| if v < 0.6 { 1.0f32 } else { 0.0 })
            .collect::<Vec<_>>();
        valid[0] = 1.0;
        if i == 0 {
            valid[(b - 1) * e..].fill(0.0);
        }
        let data = vec![
            random([b, l, d], Distribution::Normal(0.0, 1.0)),
            random([b, e, d], Distribution::Normal(0.0, 1.0)),
            random([1, 1, m], Distribution::Normal(0.0, 1.0)),
            TensorData::new(valid, [b, e, 1]),
        ];
        let (err, worst) = parity(&gpu, &retrieve_op, &data, &[true, true, true, false]);
        let name = ["context", "weights", "dquery", "dltm", "dlevel_bias"][worst];
        eprintln!(
            "retrieve {:?}: max rel error {err:.2e} ({name})",
            [b, l, d, m, per]
        );
        assert!(
            err <= TOLERANCE,
            "retrieve {:?}: {name} differs by {err:.2e}",
            [b, l, d, m, per]
        );
    }
}

/// 20 optimizer steps of the tiny model (scan, reads, writes and retrieval all on kernels)
/// against the same steps on the CPU reference, from the same weights and batches.
///
/// The working memory reads and writes densely here (`top_k = K`). With sparse top-k, a fresh
/// memory makes scores tie exactly in exact arithmetic (empty slots, slots written with the same
/// weights), and which of them wins then depends on rounding: any two implementations break
/// such ties differently (burn's own ops on wgpu and on the CPU differ by 4e-2 in the logits of
/// the first segment), after which the runs follow different, equally valid paths. The sparse
/// kernels are checked op by op above, ties included.
#[test]
fn tiny_model_trains_on_wgpu_with_kernels_like_on_cpu() {
    use dmn::DmnConfig;
    use dmn::tasks::{Needle, Task};
    use dmn::train::{OptimizerConfig, Trainer};

    let Some(gpu) = wgpu() else { return };
    let task = Needle::new(64, 16, 16, 8).unwrap();
    // Dense reads and writes (top_k = K): see the note above.
    let config = DmnConfig::tiny(task.vocab_size()).with_wm_top_k(16);
    // One set of initial weights for both runs. Parameters are initialized lazily, on first
    // use: draw them now, on the CPU (through the record), or each device would draw its own.
    let initial = config.init(&Device::flex().autodiff()).unwrap();
    let initial = initial.clone().load_record(initial.into_record());
    let losses = |device: Device| {
        let model = initial.clone().fork(&device.clone().autodiff());
        let mut trainer = Trainer::new(
            model,
            config.clone(),
            OptimizerConfig::new(),
            device.autodiff(),
        );
        trainer.sample_latents = false;
        let mut rng = StdRng::seed_from_u64(5);
        (0..20)
            .map(|_| trainer.step(&task.sample(&mut rng, 8)).read().loss)
            .collect::<Vec<f32>>()
    };
    let cpu = losses(Device::flex());
    let kernels = losses(gpu);
    eprintln!("losses cpu {cpu:?}\nlosses wgpu {kernels:?}");
    for (step, (a, b)) in kernels.iter().zip(&cpu).enumerate() {
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "step {}: loss {a} on wgpu with kernels, {b} on the CPU",
            step + 1
        );
    }
}
