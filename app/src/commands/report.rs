//! `dmn report`: the evaluation of seed 000 §2.5 in one command. Every method of a section is
//! trained on the same task, data and budget, evaluated alike, and the report is written into
//! `--out`: `results.md` (tables), `results.json` (every figure with the configs, seeds and
//! commit) and PNG plots.
//!
//! Sections:
//! - needle retrieval: DMN variants and the baselines (Mamba only, LSTM, GRU, sliding-window
//!   Transformer), accuracy against distance (`accuracy.png`) and cost;
//! - ablations of DMN: without long-term memory, working-memory sizes, compression strategies,
//!   a flat long-term store, the learned policies (`ablations.png`);
//! - memory behaviour of every model with working memory: write frequency, slot reuse, slot
//!   lifetimes, read entropy and sparsity, and slot survival curves (`survival.png`);
//! - multi-document QA and key-sentence extraction (F1, ROUGE-L);
//! - bits per character on a real text (`--text`), measured on its held-out last 5 %;
//! - continual learning: tasks in sequence, forgetting curves (`forgetting.png`).
//!
//! Suites: `micro` (≤ 2 CPU-minutes, for tests), `quick` (≤ 30 CPU-minutes on the tiny preset)
//! and `full` (the small preset at up to 100K tokens, for a GPU). Finished runs are reused, so an
//! interrupted report continues where it stopped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use dmn::DmnConfig;
use dmn::continual::{ContinualSettings, ForgettingCurves};
use dmn::memory_stats::MemoryBehaviour;
use dmn::tasks::{EVAL_SEED, step_seed};
use dmn::train::OptimizerConfig;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::eval::{EvalArgs, evaluate};
use super::train::{self, TrainArgs, with_model_options};
use super::{device, load_run};
use crate::run_dir::{RunDir, write_atomic};
use crate::task_spec::{TaskKind, TaskSpec, build_eval_task, build_task};

/// Arguments of `dmn report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value = "quick")]
    pub suite: Suite,
    /// Directory for the runs and the report (created; existing runs of the same suite are
    /// reused, so an interrupted report continues).
    #[arg(long)]
    pub out: PathBuf,
    /// Device to train and evaluate on.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// English text (a UTF-8 file or folder) for the bits-per-character section, e.g. the King
    /// James Bible as the README installs it. Without it that section is left out.
    #[arg(long)]
    pub text: Option<PathBuf>,
}

/// The suites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Every section at toy sizes: the pipeline end to end in under 2 CPU-minutes.
    Micro,
    /// Every section on the tiny preset, needle retrieval evaluated up to 4000 tokens.
    Quick,
    /// Every section on the small preset, evaluated up to 100K tokens (needs a GPU).
    Full,
}

/// One method: an encoder, its memories, its transfer policy and the ablation knobs.
#[derive(Debug, Clone, Copy)]
struct Method {
    name: &'static str,
    encoder: &'static str,
    memory: &'static str,
    policy: &'static str,
    wm_slots: Option<usize>,
    compression: Option<&'static str>,
    ltm: Option<&'static str>,
}

const DMN: Method = Method {
    name: "DMN",
    encoder: "ssm",
    memory: "full",
    policy: "importance",
    wm_slots: None,
    compression: None,
    ltm: None,
};
const PPO: Method = Method {
    name: "DMN, PPO policy",
    policy: "ppo",
    ..DMN
};
const DQN: Method = Method {
    name: "DMN, DQN policy",
    policy: "dqn",
    ..DMN
};
const LRU: Method = Method {
    name: "DMN, LRU transfers",
    policy: "lru",
    ..DMN
};
const NO_LTM: Method = Method {
    name: "DMN without LTM",
    memory: "working",
    ..DMN
};
const MAMBA: Method = Method {
    name: "Mamba only",
    memory: "none",
    ..DMN
};
const LSTM: Method = Method {
    name: "LSTM",
    encoder: "lstm",
    memory: "none",
    ..DMN
};
const GRU: Method = Method {
    name: "GRU",
    encoder: "gru",
    ..LSTM
};
const TRANSFORMER: Method = Method {
    name: "Transformer (window 128)",
    encoder: "transformer",
    ..LSTM
};
const MEAN_POOL: Method = Method {
    name: "mean-pool compression",
    compression: Some("mean-pool"),
    ..DMN
};
const UNCOMPRESSED: Method = Method {
    name: "no compression",
    compression: Some("none"),
    ..DMN
};
const FLAT: Method = Method {
    name: "flat LTM",
    ltm: Some("flat"),
    ..DMN
};

/// A working-memory size ablation.
const fn slots(name: &'static str, k: usize) -> Method {
    Method {
        name,
        wm_slots: Some(k),
        ..DMN
    }
}

/// The needle section's methods: DMN variants, then the ablation and the baselines.
const METHODS: [Method; 8] = [DMN, PPO, LRU, NO_LTM, MAMBA, LSTM, GRU, TRANSFORMER];

/// How a section trains each method.
#[derive(Debug, Clone, PartialEq)]
struct Training {
    task: TaskKind,
    preset: &'static str,
    length: u64,
    steps: u64,
    curriculum: Option<(u64, u64)>,
    batch_size: usize,
}

impl Training {
    /// Runs trained alike share a directory, so a method in two sections trains once.
    fn key(&self) -> String {
        let curriculum = self
            .curriculum
            .map_or(String::new(), |(s, n)| format!("-from{s}over{n}"));
        format!(
            "{}-{}-len{}-{}steps-batch{}{curriculum}",
            self.task.name(),
            self.preset,
            self.length,
            self.steps,
            self.batch_size
        )
    }
}

/// A group of methods trained and evaluated alike.
#[derive(Debug, Clone)]
struct Section {
    training: Training,
    methods: Vec<Method>,
    distances: Vec<u64>,
    samples: usize,
}

/// Tasks learned one after the other.
#[derive(Debug, Clone)]
struct Continual {
    methods: Vec<Method>,
    tasks: Vec<(TaskKind, usize)>,
    steps_per_task: u64,
    batch_size: usize,
    samples: usize,
}

/// What a suite trains and measures.
#[derive(Debug, Clone)]
struct SuiteSpec {
    needle: Section,
    ablations: Section,
    /// Multi-document QA, then key-sentence extraction.
    qa: Section,
    summary: Section,
    text: Section,
    continual: Continual,
    /// Memory behaviour is traced on this many needle sequences at this distance.
    behaviour: (u64, usize),
}

impl Suite {
    fn name(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Quick => "quick",
            Self::Full => "full",
        }
    }

    fn spec(self) -> SuiteSpec {
        let training = |task, preset, length, steps, curriculum, batch_size| Training {
            task,
            preset,
            length,
            steps,
            curriculum,
            batch_size,
        };
        let section = |training, methods: &[Method], distances: &[u64], samples| Section {
            training,
            methods: methods.to_vec(),
            distances: distances.to_vec(),
            samples,
        };
        match self {
            Self::Micro => {
                let needle = training(TaskKind::Needle, "tiny", 8, 100, None, 8);
                let short = |task| training(task, "tiny", 48, 20, None, 4);
                SuiteSpec {
                    needle: section(
                        needle.clone(),
                        &[DMN, MAMBA, LSTM, GRU, TRANSFORMER],
                        &[8, 32, 128],
                        8,
                    ),
                    ablations: section(needle, &[DMN, FLAT, MEAN_POOL], &[8, 128], 8),
                    qa: section(short(TaskKind::Qa), &[DMN, LSTM], &[48], 4),
                    summary: section(short(TaskKind::Summary), &[DMN, LSTM], &[48], 4),
                    text: section(short(TaskKind::Text), &[DMN, LSTM], &[48], 4),
                    continual: Continual {
                        methods: vec![DMN, LSTM],
                        tasks: vec![(TaskKind::Needle, 8), (TaskKind::Copy, 8)],
                        steps_per_task: 20,
                        batch_size: 4,
                        samples: 8,
                    },
                    behaviour: (128, 2),
                }
            }
            Self::Quick => {
                // Needle retrieval is learned at length 128 (a curriculum from 16) and evaluated
                // up to 10K; the ablations train alike, so DMN's own runs are shared.
                let needle = training(TaskKind::Needle, "tiny", 128, 600, Some((16, 300)), 8);
                let tasks = |task| training(task, "tiny", 128, 600, None, 8);
                SuiteSpec {
                    needle: section(needle.clone(), &METHODS, &[128, 1000, 4000, 10_000], 32),
                    ablations: section(
                        needle,
                        &[
                            DMN,
                            NO_LTM,
                            slots("WM 64 slots", 64),
                            slots("WM 256 slots", 256),
                            MEAN_POOL,
                            UNCOMPRESSED,
                            FLAT,
                            PPO,
                            DQN,
                        ],
                        &[128, 1000, 4000],
                        32,
                    ),
                    qa: section(
                        tasks(TaskKind::Qa),
                        &[DMN, LSTM, TRANSFORMER],
                        &[128, 1000, 10_000],
                        32,
                    ),
                    summary: section(
                        tasks(TaskKind::Summary),
                        &[DMN, LSTM, TRANSFORMER],
                        &[128, 1000, 10_000],
                        32,
                    ),
                    text: section(
                        training(TaskKind::Text, "tiny", 128, 300, None, 8),
                        &[DMN, MAMBA, LSTM, TRANSFORMER],
                        &[128, 1024],
                        16,
                    ),
                    continual: Continual {
                        methods: vec![DMN, LSTM, TRANSFORMER],
                        tasks: vec![
                            (TaskKind::Needle, 64),
                            (TaskKind::Copy, 64),
                            (TaskKind::Qa, 64),
                        ],
                        steps_per_task: 200,
                        batch_size: 8,
                        samples: 32,
                    },
                    behaviour: (1000, 8),
                }
            }
            Self::Full => {
                let long = |task| training(task, "small", 2048, 3000, Some((128, 1000)), 16);
                SuiteSpec {
                    needle: section(
                        training(TaskKind::Needle, "small", 4096, 5000, Some((64, 2000)), 16),
                        &METHODS,
                        &[1000, 10_000, 100_000],
                        64,
                    ),
                    ablations: section(
                        training(TaskKind::Needle, "small", 4096, 5000, Some((64, 2000)), 16),
                        &[
                            DMN,
                            NO_LTM,
                            slots("WM 16 slots", 16),
                            slots("WM 256 slots", 256),
                            slots("WM 512 slots", 512),
                            MEAN_POOL,
                            UNCOMPRESSED,
                            FLAT,
                            PPO,
                            DQN,
                        ],
                        &[1000, 10_000, 100_000],
                        64,
                    ),
                    qa: section(
                        long(TaskKind::Qa),
                        &[DMN, LSTM, TRANSFORMER],
                        &[2048, 100_000],
                        64,
                    ),
                    summary: section(
                        long(TaskKind::Summary),
                        &[DMN, LSTM, TRANSFORMER],
                        &[2048, 100_000],
                        64,
                    ),
                    text: section(
                        training(TaskKind::Text, "small", 1024, 5000, None, 16),
                        &[DMN, MAMBA, LSTM, TRANSFORMER],
                        &[1024, 16_384],
                        32,
                    ),
                    continual: Continual {
                        methods: vec![DMN, LSTM, TRANSFORMER],
                        tasks: vec![
                            (TaskKind::Needle, 512),
                            (TaskKind::Copy, 512),
                            (TaskKind::Qa, 512),
                            (TaskKind::Summary, 512),
                        ],
                        steps_per_task: 1000,
                        batch_size: 16,
                        samples: 64,
                    },
                    behaviour: (10_000, 16),
                }
            }
        }
    }
}

/// A file-system name for a method.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The commit this binary's checkout is at, if `git` can tell.
fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
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
    args.checkpoint_every = training.steps;
    args.keep = 1;
    args.log_every = (training.steps / 20).max(1);
    args.text = text.map(Path::to_path_buf);
    args.encoder = Some(method.encoder.into());
    args.memory = Some(method.memory.into());
    args.policy = Some(method.policy.into());
    args.wm_slots = method.wm_slots;
    args.compression = method.compression.map(Into::into);
    args.ltm = method.ltm.map(Into::into);
    if let Some((start, steps)) = training.curriculum {
        args.curriculum_start = Some(start);
        args.curriculum_steps = Some(steps);
    }
    args
}

/// Where `method` trained as `training` lives under `dir`.
fn run_dir(dir: &Path, training: &Training, method: &Method) -> PathBuf {
    dir.join(training.key()).join(slug(method.name))
}

/// Trains `method` as `section` says (or reuses its finished run) and evaluates it at the
/// section's distances.
fn measure(
    section: &Section,
    method: &Method,
    dir: &Path,
    device: &str,
    text: Option<&Path>,
) -> Result<Value> {
    let training = &section.training;
    let run = run_dir(dir, training, method);
    let finished = RunDir::open(&run)
        .and_then(|r| r.read_config())
        .is_ok_and(|c| c.train.steps == training.steps)
        && crate::checkpoint::latest(&run.join("checkpoints"))?
            .is_some_and(|p| p.ends_with(format!("step-{:08}", training.steps)));
    let started = Instant::now();
    if !finished {
        if run.exists() {
            std::fs::remove_dir_all(&run)
                .with_context(|| format!("cannot replace the unfinished run {}", run.display()))?;
        }
        let mut args = train_args(training, method, run.clone(), text);
        args.device = device.into();
        train::run(args)?;
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let eval = EvalArgs {
        run: run.clone(),
        task: None,
        distances: section.distances.clone(),
        samples: section.samples,
        batch_size: 8,
        text: None,
        seed: EVAL_SEED,
        device: device.into(),
    };
    let lines = evaluate(&eval, |line| {
        let figure = match training.task {
            TaskKind::Text => format!("{:.3} bits per character", line["bits_per_char"]),
            TaskKind::Summary => format!("F1 {:.3}, ROUGE-L {:.3}", line["f1"], line["rouge_l"]),
            _ => format!("accuracy {:.3}", line["accuracy"]),
        };
        println!("{}: {figure} at length {}", method.name, line["distance"]);
    })?;
    let config = RunDir::open(&run)?.read_config()?;
    Ok(json!({
        "method": method.name,
        "encoder": method.encoder,
        "memory": method.memory,
        "policy": method.policy,
        "wm_slots": config.model.wm_slots,
        "compression": format!("{:?}", config.model.compression),
        "ltm_hierarchical": config.model.ltm_hierarchical,
        "run": run,
        "train_seconds": if finished { Value::Null } else { json!(train_seconds) },
        "flops_per_token": dmn::flops::per_token(&config.model).total(),
        "config": config,
        "results": lines,
    }))
}

/// Memory behaviour of a trained needle run, traced on `samples` held-out sequences at
/// `distance`; `None` for a model without working memory. Ages are in tokens.
fn behaviour(run: &Path, distance: u64, samples: usize, on: &str) -> Result<Option<Value>> {
    let device = device(on)?;
    let (config, model) = load_run(run, &device)?;
    if !config.model.use_working_memory {
        return Ok(None);
    }
    let spec = TaskSpec {
        length: distance as usize,
        ..config.train.task.clone()
    };
    let task = build_eval_task(&spec, spec.length)?;
    let traces: Vec<_> = (0..samples)
        .map(|i| {
            let mut rng = StdRng::seed_from_u64(step_seed(EVAL_SEED ^ 0xbe4a, i as u64));
            dmn::train::trace(&model, &task.sample(&mut rng, 1), &device)
        })
        .collect();
    let sequences: Vec<&[dmn::MemoryTrace]> = traces.iter().map(Vec::as_slice).collect();
    let Some(b) = MemoryBehaviour::of_sequences(&sequences) else {
        return Ok(None);
    };
    let tokens = config.model.memory_update_interval as f64;
    Ok(Some(json!({
        "distance": distance,
        "sequences": samples,
        "tokens_per_update": tokens,
        "updates": b.updates,
        "write_frequency": b.write_frequency,
        "slots_used": b.slots_used,
        "slot_reuse": b.slot_reuse,
        "mean_lifetime_tokens": b.mean_lifetime * tokens,
        "median_survival_tokens": b.median_survival.map(|u| f64::from(u) * tokens),
        "read_entropy_bits": b.read_entropy_bits,
        "read_sparsity": b.read_sparsity,
        "survival": b.survival.iter().map(|&(u, s)| [f64::from(u) * tokens, s]).collect::<Vec<_>>(),
    })))
}

/// Trains each method on the continual tasks in order and evaluates every task after each; a
/// method's finished result is kept in `dir` and reused.
fn continual(spec: &Continual, dir: &Path, on: &str) -> Result<Vec<Value>> {
    let names: Vec<String> = spec
        .tasks
        .iter()
        .map(|(k, l)| format!("{}{l}", k.name()))
        .collect();
    let dir = dir.join(format!(
        "continual-{}-{}steps-batch{}-{}samples",
        names.join("-"),
        spec.steps_per_task,
        spec.batch_size,
        spec.samples
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tasks = spec
        .tasks
        .iter()
        .map(|&(kind, length)| {
            let spec = TaskSpec {
                kind,
                length,
                values: 16,
                text: None,
            };
            build_task(&spec, length)
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
    let train_device = device(on)?.autodiff();
    let mut rows = Vec::new();
    for method in &spec.methods {
        let saved = dir.join(format!("{}.json", slug(method.name)));
        if let Some(row) = std::fs::read(&saved)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        {
            rows.push(row);
            continue;
        }
        let args = train_args(
            &Training {
                task: spec.tasks[0].0,
                preset: "tiny",
                length: spec.tasks[0].1 as u64,
                steps: spec.steps_per_task,
                curriculum: None,
                batch_size: spec.batch_size,
            },
            method,
            PathBuf::new(),
            None,
        );
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

fn f(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "–".to_string(), |x| format!("{x:.digits$}"))
}

/// A table of one figure per method and evaluated length.
fn figure_table(
    md: &mut String,
    rows: &[Value],
    distances: &[u64],
    cell: impl Fn(&Value) -> String,
) {
    let header: Vec<String> = distances.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(md, "| method | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(distances.len()));
    for m in rows {
        let cells: Vec<String> = m["results"]
            .as_array()
            .into_iter()
            .flatten()
            .map(&cell)
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} |",
            m["method"].as_str().unwrap_or("?"),
            cells.join(" | ")
        );
    }
}

fn training_line(t: &Training, samples: usize) -> String {
    let curriculum = t.curriculum.map_or(String::new(), |(s, n)| {
        format!(" (curriculum from length {s} over {n} steps)")
    });
    format!(
        "`{}` preset, trained {} steps at length {}{curriculum}, batch {}, seed 0; evaluated on \
         {samples} held-out sequences per length.",
        t.preset, t.steps, t.length, t.batch_size
    )
}

/// The Markdown report.
fn markdown(suite: Suite, spec: &SuiteSpec, r: &Value, text: Option<&Path>) -> String {
    let mut md = String::new();
    let rows = |key: &str| r[key].as_array().cloned().unwrap_or_default();
    let _ = writeln!(md, "# DMN results: suite `{}`\n", suite.name());
    let _ = writeln!(md, "Commit `{}`.\n", r["commit"].as_str().unwrap_or("?"));

    let _ = writeln!(md, "## Needle retrieval: accuracy against distance\n");
    let _ = writeln!(
        md,
        "16 values (chance 1/16). {} Plot: `accuracy.png`.\n",
        training_line(&spec.needle.training, spec.needle.samples)
    );
    let needle = rows("methods");
    figure_table(&mut md, &needle, &spec.needle.distances, |x| {
        f(&x["accuracy"], 3)
    });
    let _ = writeln!(md, "\n## Cost\n");
    let _ = writeln!(
        md,
        "| method | FLOPs/token | peak RSS at the longest distance (MB) | LTM bytes at the longest distance | tokens/s at the longest distance |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for m in &needle {
        let last = m["results"]
            .as_array()
            .and_then(|r| r.last())
            .cloned()
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} |",
            m["method"].as_str().unwrap_or("?"),
            f(&m["flops_per_token"], 0),
            last["peak_rss_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6,
            f(&last["ltm_bytes"], 1),
            f(&last["tokens_per_s"], 0),
        );
    }

    let _ = writeln!(md, "\n## Ablations\n");
    let _ = writeln!(
        md,
        "Each a change of DMN (first row) on needle retrieval. {} Plot: `ablations.png`.\n",
        training_line(&spec.ablations.training, spec.ablations.samples)
    );
    figure_table(
        &mut md,
        &rows("ablations"),
        &spec.ablations.distances,
        |x| format!("{} ({} B)", f(&x["accuracy"], 3), f(&x["ltm_bytes"], 0)),
    );
    let _ = writeln!(
        md,
        "\nCells: accuracy (bytes long-term memory holds at the end)."
    );

    let (distance, samples) = spec.behaviour;
    let _ = writeln!(md, "\n## Memory behaviour\n");
    let _ = writeln!(
        md,
        "Working memory of each needle model, traced on {samples} held-out sequences of distance \
         {distance}. Writes: the slot of a head's largest write weight (≥ 0.05). Reuse: the \
         fraction of writes that overwrite earlier contents. Lifetime: tokens until a content is \
         overwritten (median by Kaplan–Meier; – when most outlive the sequence). Sparsity: the \
         fraction of slots a head leaves unread (< 1 % of its weight). Plot: `survival.png`.\n"
    );
    let _ = writeln!(
        md,
        "| method | writes/update/slot | slots used | slot reuse | mean lifetime | median lifetime | read entropy (bits) | read sparsity |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    let ablations = rows("ablations");
    let mut shown = Vec::new();
    for m in needle.iter().chain(ablations.iter()) {
        let b = &m["behaviour"];
        // A run in both sections (DMN itself, when trained alike) is listed once.
        if b.is_null() || shown.contains(&&m["run"]) {
            continue;
        }
        shown.push(&m["run"]);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            m["method"].as_str().unwrap_or("?"),
            f(&b["write_frequency"], 3),
            f(&b["slots_used"], 2),
            f(&b["slot_reuse"], 2),
            f(&b["mean_lifetime_tokens"], 0),
            f(&b["median_survival_tokens"], 0),
            f(&b["read_entropy_bits"], 2),
            f(&b["read_sparsity"], 2),
        );
    }

    let _ = writeln!(md, "\n## Multi-document QA\n");
    let _ = writeln!(
        md,
        "4 generated documents, each stating values (16, chance 1/16) for the same 2 attributes; \
         4 questions (document, attribute) at the end. Accuracy. {}\n",
        training_line(&spec.qa.training, spec.qa.samples)
    );
    figure_table(&mut md, &rows("qa"), &spec.qa.distances, |x| {
        f(&x["accuracy"], 3)
    });

    let _ = writeln!(
        md,
        "\n## Key-sentence extraction (summarization surrogate)\n"
    );
    let _ = writeln!(
        md,
        "Reproduce the 2 marked sentences of a document (words from 24) after it. Cells: token \
         F1 / ROUGE-L of the predicted summary. {}\n",
        training_line(&spec.summary.training, spec.summary.samples)
    );
    figure_table(&mut md, &rows("summary"), &spec.summary.distances, |x| {
        format!("{} / {}", f(&x["f1"], 3), f(&x["rouge_l"], 3))
    });

    let _ = writeln!(md, "\n## Text: bits per character\n");
    match text {
        Some(path) => {
            let _ = writeln!(
                md,
                "`{}`, bytes as tokens, measured on its held-out last 5 %. {}\n",
                path.display(),
                training_line(&spec.text.training, spec.text.samples)
            );
            figure_table(&mut md, &rows("text"), &spec.text.distances, |x| {
                f(&x["bits_per_char"], 3)
            });
        }
        None => {
            let _ = writeln!(md, "Not run: give a corpus with `--text PATH`.");
        }
    }

    let _ = writeln!(md, "\n## Continual learning\n");
    let c = &spec.continual;
    let names: Vec<String> = c
        .tasks
        .iter()
        .map(|(k, l)| format!("{} ({l})", k.name()))
        .collect();
    let _ = writeln!(
        md,
        "Tasks in sequence without replay: {}; {} steps each, batch {}, tiny preset. Cells: \
         accuracy on each task after each phase ({} held-out sequences). Forgetting: best earlier \
         accuracy minus final accuracy. Plot: `forgetting.png`.\n",
        names.join(" → "),
        c.steps_per_task,
        c.batch_size,
        c.samples
    );
    let _ = writeln!(md, "| method | after | {} |", names.join(" | "));
    let _ = writeln!(md, "|---|---|{}", "---|".repeat(names.len()));
    for m in rows("continual") {
        for (p, row) in m["accuracy"].as_array().into_iter().flatten().enumerate() {
            let cells: Vec<String> = row
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| f(a, 3))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                m["method"].as_str().unwrap_or("?"),
                names.get(p).map_or("?", String::as_str),
                cells.join(" | ")
            );
        }
        let forgetting: Vec<String> = m["forgetting"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| f(x, 3))
            .collect();
        let _ = writeln!(
            md,
            "| {} | forgetting | {} | |",
            m["method"].as_str().unwrap_or("?"),
            forgetting.join(" | ")
        );
    }
    md
}

/// Runs every method of `section`, adding memory behaviour where asked.
/// `earlier`'s row of the same run, narrowed to `distances`, when it evaluated all of them: a
/// run shared between sections is evaluated and traced once.
fn measured_before(earlier: &[Value], run: &Path, distances: &[u64]) -> Option<Value> {
    let row = earlier
        .iter()
        .find(|r| r["run"].as_str().map(Path::new) == Some(run))?;
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

fn run_section(
    title: &str,
    section: &Section,
    dir: &Path,
    args: &ReportArgs,
    behaviour_at: Option<(u64, usize)>,
    earlier: &[Value],
) -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    for m in &section.methods {
        println!("== {title}: {}", m.name);
        let run = run_dir(dir, &section.training, m);
        if let Some(row) = measured_before(earlier, &run, &section.distances) {
            rows.push(row);
            continue;
        }
        let mut row = measure(section, m, dir, &args.device, args.text.as_deref())?;
        if let Some((distance, samples)) = behaviour_at {
            let run = PathBuf::from(row["run"].as_str().unwrap_or_default());
            row["behaviour"] = json!(behaviour(&run, distance, samples, &args.device)?);
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Runs `dmn report`.
pub fn run(args: ReportArgs) -> Result<()> {
    let spec = args.suite.spec();
    if let Some(text) = &args.text
        && !text.exists()
    {
        bail!(
            "--text {}: no such file or folder; give an English text (see the README's \
             evaluation section for the King James Bible)",
            text.display()
        );
    }
    let dir = args.out.join(args.suite.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let started = Instant::now();
    let behaviour_at = Some(spec.behaviour);
    let methods = run_section("needle", &spec.needle, &dir, &args, behaviour_at, &[])?;
    let ablations = run_section(
        "ablation",
        &spec.ablations,
        &dir,
        &args,
        behaviour_at,
        &methods,
    )?;
    let qa = run_section("multi-document QA", &spec.qa, &dir, &args, None, &[])?;
    let summary = run_section("key sentences", &spec.summary, &dir, &args, None, &[])?;
    let text = match &args.text {
        Some(_) => run_section("text", &spec.text, &dir, &args, None, &[])?,
        None => Vec::new(),
    };
    println!("== continual learning");
    let continual = continual(&spec.continual, &dir, &args.device)?;
    let commit = commit();
    let results = json!({
        "suite": args.suite.name(),
        "commit": commit,
        "seed": 0,
        "eval_seed": EVAL_SEED,
        "seconds": started.elapsed().as_secs_f64(),
        "needle": {
            "training": format!("{:?}", spec.needle.training),
            "distances": spec.needle.distances,
            "samples": spec.needle.samples,
        },
        "methods": methods,
        "ablations": ablations,
        "qa": qa,
        "summary": summary,
        "text_corpus": args.text,
        "text": text,
        "continual": continual,
    });
    write_atomic(
        &args.out.join("results.json"),
        serde_json::to_string_pretty(&results)?.as_bytes(),
    )?;
    write_atomic(
        &args.out.join("results.md"),
        markdown(args.suite, &spec, &results, args.text.as_deref()).as_bytes(),
    )?;
    plots(&args.out, &results)?;
    println!(
        "report written to {} (results.md, results.json, accuracy.png, ablations.png, \
         survival.png, forgetting.png) in {:.0} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The report's PNG plots.
fn plots(out: &Path, r: &Value) -> Result<()> {
    let rows = |key: &str| r[key].as_array().cloned().unwrap_or_default();
    let methods = rows("methods");
    crate::plots::accuracy_against_distance(&out.join("accuracy.png"), &methods)?;

    let ablations = rows("ablations");
    // Each ablation by its change alone: "DMN, PPO policy" → "PPO policy".
    let groups: Vec<String> = ablations
        .iter()
        .map(|m| {
            let name = m["method"].as_str().unwrap_or("?");
            name.strip_prefix("DMN, ")
                .or_else(|| name.strip_prefix("DMN "))
                .unwrap_or(name)
                .to_string()
        })
        .collect();
    let distances: Vec<Value> = ablations
        .first()
        .and_then(|m| m["results"].as_array().cloned())
        .unwrap_or_default();
    let bars: Vec<(String, Vec<f64>)> = distances
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let heights = ablations
                .iter()
                .map(|m| m["results"][j]["accuracy"].as_f64().unwrap_or(0.0))
                .collect();
            (format!("distance {}", d["distance"]), heights)
        })
        .collect();
    crate::plots::bars(
        &out.join("ablations.png"),
        "Ablations: needle accuracy",
        "accuracy",
        &groups,
        &bars,
    )?;

    let curves: Vec<crate::plots::Series> = methods
        .iter()
        .filter(|m| !m["behaviour"].is_null())
        .map(|m| {
            let points = m["behaviour"]["survival"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_f64()?)))
                .collect();
            (m["method"].as_str().unwrap_or("?").to_string(), points)
        })
        .collect();
    crate::plots::survival(&out.join("survival.png"), &curves)?;

    let continual = rows("continual");
    let first = continual
        .first()
        .and_then(|m| m["tasks"][0].as_str().map(str::to_string))
        .unwrap_or_default();
    let curves: Vec<crate::plots::Series> = continual
        .iter()
        .map(|m| {
            let points = m["accuracy"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(p, row)| Some(((p + 1) as f64, row[0].as_f64()?)))
                .collect();
            (m["method"].as_str().unwrap_or("?").to_string(), points)
        })
        .collect();
    crate::plots::forgetting(&out.join("forgetting.png"), &curves, &first)
}
