//! Training from scratch in the tab: the tiny preset on needle retrieval, one step per turn of
//! the browser's event loop, with a memory trace of a fixed held-out sequence every two seconds
//! (less often where a trace is slow, so that traces never take more than a fifth of the time).
//! If WebGPU fails mid-run, training starts over on the CPU backend and the page says why.

use burn::module::Module;
use burn::tensor::Device;
use dmn::DmnConfig;
use dmn::probe::probe;
use dmn::tasks::{EVAL_SEED, Task, step_seed};
use dmn::train::{OptimizerConfig, StepTensors, Trainer};
use dmn_app::gui::history::Point;
use dmn_app::task_spec::{DEFAULT_PAIRS, TaskKind, TaskSpec, needle};
use eframe::egui;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wasm_bindgen_futures::spawn_local;

use crate::backend::Backend;
use crate::live::Shared;
use crate::page;

/// Values a needle can hold (chance accuracy 1/16).
pub const VALUES: usize = 16;
/// Milliseconds between memory traces, at least.
const TRACE_EVERY_MS: f64 = 2000.0;
/// Between two traces, training runs at least this many times as long as the last trace took:
/// on a slow device (a software adapter) a trace costs a good part of a step, and tracing every
/// step would halve training's speed for a picture that changes little from step to step.
const TRAINING_PER_TRACE: f64 = 4.0;

/// What a run in the tab trains on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Needle distance.
    pub distance: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Seed of initialization and data.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            distance: 64,
            batch: 8,
            seed: 0,
        }
    }
}

/// Stops whatever runs and trains a new model.
pub fn start(live: &Shared, ctx: &egui::Context, settings: Settings) {
    let generation = {
        let mut l = live.borrow_mut();
        l.generation += 1;
        l.paused = false;
        l.busy = false;
        l.generation
    };
    spawn_local(run(live.clone(), ctx.clone(), settings, generation));
}

/// Trains until `live.generation` moves past `generation`.
async fn run(live: Shared, ctx: egui::Context, settings: Settings, generation: u64) {
    let Some(backend) = live.borrow().backend.clone() else {
        return;
    };
    let first = train_on(&live, &ctx, settings, generation, &backend.device).await;
    let result = match first {
        Err(e) if backend.name == "webgpu" => {
            let cpu = Backend::cpu(format!(
                "WebGPU failed during training ({e}); training restarted from step 0"
            ));
            let device = cpu.device.clone();
            live.borrow_mut().set_backend(cpu);
            ctx.request_repaint();
            train_on(&live, &ctx, settings, generation, &device).await
        }
        other => other,
    };
    if let Err(e) = result {
        live.borrow_mut()
            .set_error(format!("training stopped: {e}"));
        ctx.request_repaint();
    }
}

async fn train_on(
    live: &Shared,
    ctx: &egui::Context,
    settings: Settings,
    generation: u64,
    device: &Device,
) -> Result<(), String> {
    let spec = TaskSpec {
        kind: TaskKind::Needle,
        length: settings.distance,
        values: VALUES,
        pairs: DEFAULT_PAIRS,
        text: None,
    };
    let task = needle(&spec, settings.distance).map_err(|e| format!("{e:#}"))?;
    let config = DmnConfig::tiny(task.vocab_size());
    let train_device = device.clone().autodiff();
    train_device.seed(settings.seed);
    let model = config.init(&train_device).map_err(|e| e.to_string())?;
    let mut trainer = Trainer::new(model, config, OptimizerConfig::new(), train_device);
    let held_out = task.sample(&mut StdRng::seed_from_u64(EVAL_SEED), 1);
    {
        let mut l = live.borrow_mut();
        l.history = l.history.keeping_timeline();
        l.status = format!("training: needle at distance {}", settings.distance);
        l.runs += 1;
        page::record("run", &l.runs.to_string());
    }
    let mut step = 0u64;
    let mut figures = Figures {
        tokens: 0,
        last_read: page::now_ms(),
    };
    // The step whose figures are still on the device: they are read after the next step has
    // been queued, so the device runs that one while the page waits (a one-step lag).
    let mut queued: Option<Queued> = None;
    let (mut last_trace, mut trace_ms) = (f64::NEG_INFINITY, 0.0);
    loop {
        if live.borrow().generation != generation {
            return Ok(());
        }
        if live.borrow().paused {
            if let Some(last) = queued.take() {
                figures.record(live, last).await?;
            }
            page::sleep(100).await;
            figures.last_read = page::now_ms();
            continue;
        }
        step += 1;
        let mut rng = StdRng::seed_from_u64(step_seed(settings.seed, step));
        let batch = task.sample(&mut rng, settings.batch);
        let next = Queued {
            step,
            tensors: trainer.step(&batch),
            tokens: batch.batch * batch.len,
            length: batch.len,
        };
        if let Some(previous) = queued.replace(next) {
            figures.record(live, previous).await?;
        }
        if page::now_ms() - last_trace > TRACE_EVERY_MS.max(TRAINING_PER_TRACE * trace_ms) {
            let trace_started = page::now_ms();
            let traces = probe(&trainer.model.valid(), &held_out, device)
                .read_async()
                .await
                .map_err(|e| e.to_string())?
                .traces;
            live.borrow_mut().history.set_traces(step, traces);
            last_trace = page::now_ms();
            trace_ms = last_trace - trace_started;
        }
        ctx.request_repaint();
        // One turn of the event loop: the window draws between steps.
        page::sleep(0).await;
    }
}

/// A training step queued on the device whose figures have not been read.
struct Queued {
    step: u64,
    tensors: StepTensors,
    tokens: usize,
    length: usize,
}

/// What the page has counted of a run.
struct Figures {
    /// Tokens trained.
    tokens: u64,
    /// When the previous step's figures arrived (ms).
    last_read: f64,
}

impl Figures {
    /// Waits for `step`'s figures and plots them; fails on a loss that is not finite.
    async fn record(&mut self, live: &Shared, step: Queued) -> Result<(), String> {
        let stats = step.tensors.read_async().await.map_err(|e| e.to_string())?;
        if !stats.loss.is_finite() {
            return Err(format!(
                "the loss became {} at step {}",
                stats.loss, step.step
            ));
        }
        let now = page::now_ms();
        let seconds = ((now - self.last_read) / 1000.0).max(1e-6);
        self.last_read = now;
        self.tokens += step.tokens as u64;
        live.borrow_mut().record_step(Point {
            step: step.step,
            loss: stats.loss,
            accuracy: stats.accuracy,
            tokens_per_s: step.tokens as f64 / seconds,
            length: step.length,
            tokens: self.tokens,
        });
        Ok(())
    }
}
