//! The pretrained demo: the needle model shipped in `web/assets/needle-tiny/` — a run directory
//! written by `dmn train`, read here over HTTP with the same decoders as natively — answers
//! inputs the user edits. `dmn probe --run web/assets/needle-tiny` answers the same inputs
//! natively.

use std::rc::Rc;

use burn::tensor::Device;
use dmn::Dmn;
use dmn::probe::probe;
use dmn::tasks::Task;
use dmn::train::evaluate as evaluate_batch;
use dmn_app::checkpoint::model_from_bytes;
use dmn_app::commands::{EVAL_SEED, step_seed};
use dmn_app::gui::history::History;
use dmn_app::run_dir::RunConfig;
use dmn_app::task_spec::needle;
use eframe::egui;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::live::{Answer, Shared};

/// The shipped run, relative to the page.
pub const RUN: &str = "web/assets/needle-tiny";
/// Its checkpoint's model file, relative to [`RUN`].
pub const MODEL: &str = "checkpoints/step-00000600/model.bpk";

/// The shipped model, loaded.
pub struct Demo {
    /// Its run config (the task's number of values, the model).
    pub config: RunConfig,
    /// The model, on the demo's device.
    pub model: Dmn,
    /// That device.
    pub device: Device,
}

/// One question: which value, how far back, which noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Question {
    /// The value hidden after KEY (from 0).
    pub value: usize,
    /// Tokens from the value to the QUERY.
    pub distance: usize,
    /// Seed of the noise and of the needle's position.
    pub seed: u64,
}

/// Fetches and loads the shipped run on `device`.
pub async fn load(device: Device) -> Result<Demo, String> {
    let config_url = format!("{RUN}/config.json");
    let text = crate::page::fetch_text(&config_url).await?;
    let config = RunConfig::from_json(&text, &config_url).map_err(|e| format!("{e:#}"))?;
    let model_url = format!("{RUN}/{MODEL}");
    let bytes = crate::page::fetch_bytes(&model_url).await?;
    let model = config.model.init(&device).map_err(|e| e.to_string())?;
    let model = model_from_bytes(bytes, &model_url, model).map_err(|e| format!("{e:#}"))?;
    Ok(Demo {
        config,
        model,
        device,
    })
}

/// The training curves of the shipped run (its `metrics.jsonl`), for the curves panel.
pub async fn curves() -> Result<History, String> {
    let url = format!("{RUN}/metrics.jsonl");
    let text = crate::page::fetch_text(&url).await?;
    History::parse_metrics(&text, &url).map_err(|e| format!("{e:#}"))
}

/// Asks `demo` the question and records the answer and the memory traces in `live`.
pub async fn ask(live: Shared, ctx: egui::Context, demo: Rc<Demo>, question: Question) {
    let result = answer(&demo, question).await;
    let mut l = live.borrow_mut();
    match result {
        Ok((recalled, traces)) => {
            l.history.set_traces(0, traces);
            l.status = format!(
                "asked: value {} at distance {}",
                question.value, question.distance
            );
            l.set_answer(Answer {
                value: question.value,
                distance: question.distance,
                recalled,
            });
        }
        Err(e) => l.set_error(e),
    }
    ctx.request_repaint();
}

/// Distances the demo's evaluation covers, and sequences per distance.
pub const EVAL_DISTANCES: [usize; 3] = [100, 1000, 10_000];
/// Sequences per distance (one batch each).
pub const EVAL_SAMPLES: usize = 8;

/// Accuracy of `demo` at [`EVAL_DISTANCES`] on held-out needles,
/// recorded for the accuracy-against-distance panel as each distance finishes.
pub async fn evaluate(live: Shared, ctx: egui::Context, demo: Rc<Demo>) {
    live.borrow_mut().history.by_distance.clear();
    for distance in EVAL_DISTANCES {
        let task = match needle(&demo.config.train.task, distance) {
            Ok(t) => t,
            Err(e) => return live.borrow_mut().set_error(format!("{e:#}")),
        };
        // The held-out data the desktop trainer's Evaluate draws at this distance.
        let seed = step_seed(EVAL_SEED, distance as u64);
        let batch = task.sample(&mut StdRng::seed_from_u64(seed), EVAL_SAMPLES);
        match evaluate_batch(&demo.model, &batch, &demo.device)
            .read_async()
            .await
        {
            Ok(stats) => {
                let mut l = live.borrow_mut();
                l.history
                    .by_distance
                    .push((distance as u64, stats.accuracy));
                l.status = format!("evaluated at distance {distance}");
            }
            Err(e) => {
                return live
                    .borrow_mut()
                    .set_error(format!("evaluation failed: {e}"));
            }
        }
        ctx.request_repaint();
    }
    let summary: Vec<String> = live
        .borrow()
        .history
        .by_distance
        .iter()
        .map(|(d, a)| format!("{d}:{a}"))
        .collect();
    crate::page::record("evaluation", &summary.join(","));
    live.borrow_mut().busy = false;
}

async fn answer(
    demo: &Demo,
    q: Question,
) -> Result<(Option<usize>, Vec<dmn::MemoryTrace>), String> {
    if q.distance == 0 {
        return Err("the distance must be at least 1".into());
    }
    let task = needle(&demo.config.train.task, q.distance).map_err(|e| format!("{e:#}"))?;
    let batch = task
        .with_value(q.value, &mut StdRng::seed_from_u64(q.seed))
        .map_err(|e| e.to_string())?;
    let result = probe(&demo.model, &batch, &demo.device)
        .read_async()
        .await?;
    let token = result.answers.first().copied().unwrap_or(0);
    Ok((task.value_of(token), result.traces))
}
