//! Measuring a report's methods: training each (or reusing its finished run), evaluating it at
//! the section's distances, tracing its memory behaviour, and the continual-learning sequence.
//! Every figure lands in a JSON row that `results.json` keeps and the tables read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dmn::DmnConfig;
use dmn::continual::{ContinualSettings, ForgettingCurves};
use dmn::memory_stats::MemoryBehaviour;
use dmn::tasks::{EVAL_SEED, step_seed};
use dmn::train::OptimizerConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::methods::Method;
use super::suites::{Behaviour, Continual, ModelOptions, Section, Training};
use crate::commands::eval::{EvalArgs, MemoryRead, evaluate};
use crate::commands::train::{self, TrainArgs, with_model_options};
use crate::commands::{device, load_run};
use crate::run_dir::{RunDir, write_atomic};
use crate::task_spec::{TaskKind, TaskSpec, build_eval_task, build_task};

/// Where and how a report measures.
pub(super) struct Measure<'a> {
    /// Holds every run, one directory per training (see [`Training::key`]) and method.
    pub dir: &'a Path,
    /// Device to train and evaluate on.
    pub device: &'a str,
    /// The text corpus, if the report has one.
    pub text: Option<&'a Path>,
}

impl Measure<'_> {
    /// A row per method of `section`, with its memory behaviour traced as `behaviour` says. A
    /// run that `earlier` rows already measured at every distance is not evaluated again.
    pub fn section(
        &self,
        title: &str,
        section: &Section,
        behaviour: Option<Behaviour>,
        earlier: &[Value],
    ) -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        for m in &section.methods {
            println!("== {title}: {}", m.name);
            let run = self.run_dir(&section.training, m);
            if let Some(row) = measured_before(earlier, &run, m, &section.distances) {
                rows.push(row);
                continue;
            }
            let mut row = self.method(section, m)?;
            if let Some(at) = behaviour {
                let run = PathBuf::from(row["run"].as_str().unwrap_or_default());
                row["behaviour"] = json!(self.behaviour(&run, at)?);
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// Where `method` trained as `training` lives.
    fn run_dir(&self, training: &Training, method: &Method) -> PathBuf {
        self.dir.join(training.key()).join(method.run_slug())
    }

    /// Trains `method` as `section` says (or reuses its finished run) and evaluates it at the
    /// section's distances.
    fn method(&self, section: &Section, method: &Method) -> Result<Value> {
        let training = &section.training;
        let run = self.run_dir(training, method);
        let finished = RunDir::open(&run)
            .and_then(|r| r.read_config())
            .is_ok_and(|c| c.train.steps == training.steps)
            && crate::checkpoint::latest(&run.join("checkpoints"))?
                .is_some_and(|p| p.ends_with(format!("step-{:08}", training.steps)));
        let started = Instant::now();
        if !finished {
            if run.exists() {
                std::fs::remove_dir_all(&run).with_context(|| {
                    format!("cannot replace the unfinished run {}", run.display())
                })?;
            }
            let mut args = train_args(training, method, run.clone(), self.text);
            args.device = self.device.into();
            train::run(args)?;
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let lines = section
            .distances
            .iter()
            .map(|&d| self.cell(&run, training.task, method, d, section.samples))
            .collect::<Result<Vec<_>>>()?;
        let config = RunDir::open(&run)?.read_config()?;
        Ok(json!({
            "method": method.name,
            "without_read": method.unread.map(MemoryRead::name),
            "encoder": method.encoder,
            "memory": method.memory,
            "policy": method.policy,
            "wm_slots": config.model.wm_slots,
            "compression": format!("{:?}", config.model.ltm_compression),
            "ltm_hierarchical": config.model.ltm_hierarchical,
            "run": run,
            "train_seconds": if finished { Value::Null } else { json!(train_seconds) },
            "flops_per_token": dmn::flops::per_token(&config.model).total(),
            "config": config,
            "results": lines,
        }))
    }

    /// `dmn eval`'s line for `run` at `distance`: read from the run's `eval/` folder where an
    /// earlier report measured it (the folder goes with the run when it retrains), otherwise
    /// measured and saved there, so that an interrupted report keeps every finished cell.
    fn cell(
        &self,
        run: &Path,
        task: TaskKind,
        method: &Method,
        distance: u64,
        samples: usize,
    ) -> Result<Value> {
        let unread = method
            .unread
            .map_or(String::new(), |r| format!("-without-{}", r.name()));
        let saved = run.join("eval").join(format!(
            "{}-{distance}-{samples}-{EVAL_SEED}{unread}.json",
            task.name()
        ));
        if let Some(line) = std::fs::read_to_string(&saved)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        {
            return Ok(line);
        }
        let eval = EvalArgs {
            run: run.to_path_buf(),
            task: None,
            distances: vec![distance],
            samples,
            batch_size: 8,
            text: None,
            seed: EVAL_SEED,
            device: self.device.into(),
            without_read: method.unread.into_iter().collect(),
            gate_cut: None,
            write_rule: None,
        };
        let line = evaluate(&eval, |_| {})?.remove(0);
        let figure = match task {
            TaskKind::Text => format!("{:.3} bits per character", line["bits_per_char"]),
            TaskKind::Summary => format!("F1 {:.3}, ROUGE-L {:.3}", line["f1"], line["rouge_l"]),
            _ => format!("accuracy {:.3}", line["accuracy"]),
        };
        println!("{}: {figure} at length {distance}", method.name);
        std::fs::create_dir_all(saved.parent().expect("a file in a folder"))?;
        write_atomic(&saved, serde_json::to_string_pretty(&line)?.as_bytes())?;
        Ok(line)
    }

    /// Memory behaviour of a trained needle run, traced on held-out sequences; `None` for a
    /// model without working memory. Ages are in tokens.
    fn behaviour(&self, run: &Path, at: Behaviour) -> Result<Option<Value>> {
        let device = device(self.device)?;
        let (config, model) = load_run(run, &device)?;
        if !config.model.use_working_memory {
            return Ok(None);
        }
        let spec = TaskSpec {
            length: at.distance as usize,
            ..config.train.task.clone()
        };
        let task = build_eval_task(&spec, spec.length)?;
        let traces: Vec<_> = (0..at.samples)
            .map(|i| {
                let mut rng = StdRng::seed_from_u64(step_seed(EVAL_SEED ^ 0xbe4a, i as u64));
                dmn::train::trace(&model, &task.sample(&mut rng, 1), &device)
            })
            .collect();
        let sequences: Vec<&[dmn::MemoryTrace]> = traces.iter().map(Vec::as_slice).collect();
        let Some(b) = MemoryBehaviour::of_sequences(&sequences) else {
            return Ok(None);
        };
        let tokens = config.model.wm_update_interval as f64;
        let survival: Vec<[f64; 2]> = b
            .survival
            .iter()
            .map(|&(u, s)| [f64::from(u) * tokens, s])
            .collect();
        Ok(Some(json!({
            "distance": at.distance,
            "sequences": at.samples,
            "tokens_per_update": tokens,
            "updates": b.updates,
            "write_frequency": b.write_frequency,
            "slots_used": b.slots_used,
            "slot_reuse": b.slot_reuse,
            "mean_lifetime_tokens": b.mean_lifetime * tokens,
            "median_survival_tokens": b.median_survival.map(|u| f64::from(u) * tokens),
            "read_entropy_bits": b.read_entropy_bits,
            "read_sparsity": b.read_sparsity,
            "survival": survival,
        })))
    }

    /// Trains each method on the continual tasks in order and evaluates every task after each;
    /// a method's finished result is kept and reused.
    pub fn continual(&self, spec: &Continual) -> Result<Vec<Value>> {
        let names: Vec<String> = spec
            .tasks
            .iter()
            .map(|t| format!("{}{}", t.kind.name(), t.length))
            .collect();
        let dir = self.dir.join(format!(
            "continual-{}-{}steps-batch{}-{}samples",
            names.join("-"),
            spec.steps_per_task,
            spec.batch_size,
            spec.samples
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let tasks = spec
            .tasks
            .iter()
            .map(|t| {
                let spec = TaskSpec {
                    kind: t.kind,
                    length: t.length,
                    values: 16,
                    pairs: crate::task_spec::DEFAULT_PAIRS,
                    text: None,
                };
                build_task(&spec, t.length)
            })
            .collect::<Result<Vec<_>>>()?;
        let vocab = tasks.iter().map(|t| t.vocab_size()).max().unwrap_or(2);
        let settings = ContinualSettings {
            steps_per_task: spec.steps_per_task,
            batch_size: spec.batch_size,
            eval_samples: spec.samples,
            seed: 0,
            eval_seed: EVAL_SEED,
            optimizer: OptimizerConfig::new(),
        };
        let train_device = device(self.device)?.autodiff();
        let mut rows = Vec::new();
        for method in &spec.methods {
            let saved = dir.join(format!("{}.json", method.slug()));
            if let Some(row) = std::fs::read(&saved)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            {
                rows.push(row);
                continue;
            }
            // The method's model options, as `dmn train` would build them on the first task.
            let first = Training {
                task: spec.tasks[0].kind,
                preset: "tiny",
                length: spec.tasks[0].length as u64,
                steps: spec.steps_per_task,
                curriculum: None,
                batch_size: spec.batch_size,
                simulate_gaps: false,
                model: ModelOptions::PRESET,
            };
            let args = train_args(&first, method, PathBuf::new(), None);
            let config = with_model_options(DmnConfig::tiny(vocab), &args)?;
            let started = Instant::now();
            let curves: ForgettingCurves =
                dmn::continual::run(&config, &tasks, &settings, &train_device)
                    .map_err(anyhow::Error::msg)?;
            println!(
                "{}: continual accuracy after each phase {:?}",
                method.name, curves.accuracy
            );
            let row = json!({
                "method": method.name,
                "tasks": curves.tasks,
                "accuracy": curves.accuracy,
                "forgetting": curves.forgetting(),
                "final_mean_accuracy": curves.final_mean_accuracy(),
                "seconds": started.elapsed().as_secs_f64(),
            });
            write_atomic(&saved, serde_json::to_string_pretty(&row)?.as_bytes())?;
            rows.push(row);
        }
        Ok(rows)
    }
}

/// `dmn train`'s arguments for `method` trained as `training` into `out`.
fn train_args(
    training: &Training,
    method: &Method,
    out: PathBuf,
    text: Option<&Path>,
) -> TrainArgs {
    let mut args = TrainArgs::new(training.task, out);
    args.preset = training.preset.into();
    args.length = Some(training.length);
    args.steps = Some(training.steps);
    args.batch_size = training.batch_size;
    // A baseline without memory has nothing else to carry a needle across a boundary: it
    // learns as it would alone, so it is measured at its best.
    args.simulate_gaps = training.simulate_gaps && method.memory != "none";
    args.checkpoint_every = training.steps;
    args.keep = 1;
    args.log_every = (training.steps / 20).max(1);
    args.text = text.map(Path::to_path_buf);
    args.encoder = Some(method.encoder.into());
    args.memory = Some(method.memory.into());
    args.policy = Some(method.policy.into());
    let model = &training.model;
    args.wm_slots = method.wm_slots.or(model.wm_slots);
    args.compression = method.compression.or(model.compression).map(Into::into);
    args.ltm = method.ltm.or(model.ltm).map(Into::into);
    args.ltm_levels = model.ltm_capacity.map(|(levels, _)| levels);
    args.ltm_entries_per_level = model.ltm_capacity.map(|(_, entries)| entries);
    if let Some(c) = training.curriculum {
        args.curriculum_start = Some(c.start);
        args.curriculum_steps = Some(c.steps);
    }
    args
}

/// `earlier`'s row of the same run, narrowed to `distances`, when it evaluated all of them: a
/// run shared between sections is evaluated and traced once.
fn measured_before(
    earlier: &[Value],
    run: &Path,
    method: &Method,
    distances: &[u64],
) -> Option<Value> {
    let unread = json!(method.unread.map(MemoryRead::name));
    let row = earlier
        .iter()
        .find(|r| r["run"].as_str().map(Path::new) == Some(run) && r["without_read"] == unread)?;
    let results: Vec<Value> = distances
        .iter()
        .map(|&d| {
            row["results"]
                .as_array()?
                .iter()
                .find(|l| l["distance"].as_u64() == Some(d))
                .cloned()
        })
        .collect::<Option<_>>()?;
    let mut row = row.clone();
    row["results"] = json!(results);
    row["train_seconds"] = Value::Null;
    Some(row)
}

#[cfg(test)]
mod tests {
    use super::super::methods::{DMN, HIERARCHICAL, LTM_UNREAD, VAE};
    use super::*;
    use dmn::CompressionKind;

    #[test]
    fn a_tasks_model_options_build_its_runs_and_an_ablations_knob_wins() {
        let tasks = super::super::long::tasks();
        let multikey = tasks
            .iter()
            .find(|t| t.training.task == TaskKind::Multikey)
            .unwrap();
        let config = |method: &Method| {
            let args = train_args(&multikey.training, method, PathBuf::new(), None);
            with_model_options(DmnConfig::tiny(100), &args).unwrap()
        };
        let dmn = config(&DMN);
        assert_eq!(dmn.wm_slots, 16);
        assert!(
            dmn.ltm_levels * dmn.ltm_entries_per_level >= 64,
            "a store for every pair"
        );
        assert_eq!(dmn.ltm_compression, CompressionKind::Uncompressed);
        assert!(!dmn.ltm_hierarchical);
        assert_eq!(config(&VAE).ltm_compression, CompressionKind::Vae);
        assert!(config(&HIERARCHICAL).ltm_hierarchical);
        assert_eq!(config(&HIERARCHICAL).ltm_levels, 8);
        // Trained apart from runs of the preset as it is.
        let preset = Training {
            model: ModelOptions::PRESET,
            ..multikey.training.clone()
        };
        assert_ne!(preset.key(), multikey.training.key());
    }

    #[test]
    fn a_shared_run_is_narrowed_to_the_distances_asked() {
        let earlier = [json!({
            "run": "/runs/dmn",
            "train_seconds": 12.0,
            "results": [{"distance": 8}, {"distance": 32}, {"distance": 128}],
        })];
        let dmn = Path::new("/runs/dmn");
        let row = measured_before(&earlier, dmn, &DMN, &[8, 128]).unwrap();
        assert_eq!(row["results"], json!([{"distance": 8}, {"distance": 128}]));
        assert!(
            row["train_seconds"].is_null(),
            "trained in the earlier section"
        );
        assert!(measured_before(&earlier, dmn, &DMN, &[8, 1000]).is_none());
        assert!(measured_before(&earlier, Path::new("/runs/lstm"), &DMN, &[8]).is_none());
        // The same run evaluated with a memory unread is another row.
        assert!(measured_before(&earlier, dmn, &LTM_UNREAD, &[8]).is_none());
    }
}
