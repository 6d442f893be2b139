//! Asking the shipped models from the window: loading one, a question, an evaluation, each a
//! task that records its result in [`Live`](crate::live::Live). When WebGPU fails, the task
//! switches the page to the CPU backend, says so, and asks again there.

use std::rc::Rc;

use dmn::tasks::{EVAL_SEED, step_seed};
use dmn::train::evaluate as evaluate_batch;
use dmn_app::task_spec::build_eval_task;
use eframe::egui;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wasm_bindgen_futures::spawn_local;

use crate::backend::Backend;
use crate::demo::{self, Demo, DemoTask, Question};
use crate::live::Shared;
use crate::page;

/// Stops training, loads the shipped model of `task` (once) and its curves, asks `question` if
/// given, then evaluates if asked to.
pub fn open(
    live: &Shared,
    ctx: &egui::Context,
    task: DemoTask,
    question: Option<Question>,
    evaluate_after: bool,
) {
    {
        let mut l = live.borrow_mut();
        l.generation += 1;
        l.busy = true;
        l.history = l.history.keeping_timeline();
        l.answer = None;
        l.status = format!("loading the pretrained {} model…", task.name());
    }
    let (live, ctx) = (live.clone(), ctx.clone());
    spawn_local(async move {
        let loaded = live.borrow().demo(task);
        let demo = match loaded {
            Some(d) => d,
            None => {
                let Some(device) = live.borrow().backend.as_ref().map(|b| b.device.clone()) else {
                    return;
                };
                let weights = live.borrow().weights_for(task);
                match demo::load(task, device, weights.as_deref()).await {
                    Ok(d) => {
                        let d = Rc::new(d);
                        live.borrow_mut().demos.push(d.clone());
                        d
                    }
                    Err(e) => {
                        live.borrow_mut()
                            .set_error(format!("cannot load the demo model: {e}"));
                        ctx.request_repaint();
                        return;
                    }
                }
            }
        };
        match demo::curves(task).await {
            Ok(h) => live.borrow_mut().history.points = h.points,
            Err(e) => live.borrow_mut().status = format!("no training curves: {e}"),
        }
        {
            let mut l = live.borrow_mut();
            l.status = format!("pretrained {} model loaded", task.name());
            l.busy = false;
        }
        page::record("demo", "loaded");
        ctx.request_repaint();
        if let Some(q) = question {
            live.borrow_mut().busy = true;
            ask(live.clone(), ctx.clone(), demo.clone(), q).await;
        }
        if evaluate_after {
            live.borrow_mut().busy = true;
            evaluate(live.clone(), ctx.clone(), demo).await;
        }
    });
}

/// Asks `demo` the question and records the answer and the memory traces in `live`.
pub async fn ask(live: Shared, ctx: egui::Context, demo: Rc<Demo>, question: Question) {
    let state = live.borrow().state_for(question.task);
    let mut result = demo::answer(&demo, &question, state.as_deref()).await;
    if let Err(e) = &result
        && on_webgpu(&live)
    {
        // The device failed: ask again on the CPU backend.
        result = match fall_back_to_cpu(&live, question.task, e).await {
            Ok(cpu) => demo::answer(&cpu, &question, state.as_deref()).await,
            Err(e) => Err(e),
        };
    }
    let mut l = live.borrow_mut();
    match result {
        Ok((answer, traces)) => {
            l.history.set_traces(0, traces);
            l.status = format!(
                "asked {} at distance {}",
                question.task.name(),
                question.distance
            );
            l.set_answer(answer);
        }
        Err(e) => l.set_error(e),
    }
    ctx.request_repaint();
}

/// Sequences per distance the demo's evaluation draws (one batch each).
pub const EVAL_SAMPLES: usize = 8;

/// Accuracy of `demo` at its task's evaluation distances on held-out sequences, recorded for
/// the accuracy-against-distance panel as each distance finishes.
pub async fn evaluate(live: Shared, ctx: egui::Context, demo: Rc<Demo>) {
    live.borrow_mut().history.by_distance.clear();
    for distance in demo.task.eval_distances() {
        let task = match build_eval_task(&demo.config.train.task, distance) {
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
                let why = if on_webgpu(&live) {
                    match fall_back_to_cpu(&live, demo.task, &e.to_string()).await {
                        Ok(_) => "; the demo now runs on the CPU backend: press Evaluate again",
                        Err(_) => "",
                    }
                } else {
                    ""
                };
                ctx.request_repaint();
                return live
                    .borrow_mut()
                    .set_error(format!("evaluation failed: {e}{why}"));
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
    page::record("evaluation", &summary.join(","));
    live.borrow_mut().busy = false;
}

/// Whether the demo runs on WebGPU.
fn on_webgpu(live: &Shared) -> bool {
    live.borrow()
        .backend
        .as_ref()
        .is_some_and(|b| b.name == "webgpu")
}

/// After a WebGPU failure (`why`): switches to the CPU backend, saying so on the page, forgets
/// the models loaded on the failed device and loads `task`'s again on the CPU.
async fn fall_back_to_cpu(live: &Shared, task: DemoTask, why: &str) -> Result<Rc<Demo>, String> {
    let cpu = Backend::cpu(format!("WebGPU failed ({why})"));
    let device = cpu.device.clone();
    {
        let mut l = live.borrow_mut();
        l.set_backend(cpu);
        l.demos.clear();
    }
    let weights = live.borrow().weights_for(task);
    let demo = Rc::new(demo::load(task, device, weights.as_deref()).await?);
    live.borrow_mut().demos.push(demo.clone());
    Ok(demo)
}
