//! `dmn eval`: accuracy of a trained run at each requested distance (one JSON line each) and
//! the share of sequences answered exactly (every scored token right), or bits per character and perplexity on text, F1 and ROUGE-L of the predicted summary on the
//! key-sentence task, with the bytes its long-term memory holds at the
//! end of a sequence and the model's forward FLOPs per token (counted from its config).
//! `--without-read` evaluates the trained model with a memory's reads cut from its output.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use dmn::MemoryReads;
use dmn::tasks::{EVAL_SEED, step_seed, unigram_f1};
use dmn::train::evaluate as evaluate_batch;
use dmn::working_memory::GATE_CUTS;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::{WriteRuleArg, device, load_run, value_name};
use crate::memory_usage::{peak_rss_bytes, reset_peak};
use crate::task_spec::{TaskKind, TaskSpec, build_eval_task};

/// Arguments of `dmn eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalArgs {
    /// Run directory written by `dmn train`.
    #[arg(long)]
    pub run: PathBuf,
    /// Task (default: the one the run trained on).
    #[arg(long, value_enum)]
    pub task: Option<TaskKind>,
    /// Comma-separated distances / lengths (default: the run's length).
    #[arg(long, value_delimiter = ',')]
    pub distances: Vec<u64>,
    /// Sequences per distance.
    #[arg(long, default_value_t = 32)]
    pub samples: usize,
    /// Sequences evaluated at once.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Text file or folder (for `--task text`; default: the run's).
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Seed of the evaluation data (distinct from training data by construction).
    #[arg(long, default_value_t = EVAL_SEED)]
    pub seed: u64,
    /// Device.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Memories whose reads the output ignores (comma-separated): an ablation of the trained
    /// model that measures what each memory's reads contribute. The memories are still written
    /// and transferred as in training.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub without_read: Vec<MemoryRead>,
    /// Cut the working memory's write gates below this instead of the cut the run trained with
    /// (`wm_gate_cut`): writes the model learned to gate low, on noise, then leave the memory
    /// bit-identical however long the noise runs (see the README).
    #[arg(long)]
    pub gate_cut: Option<f64>,
    /// Write the working memory by this rule instead of the one the run trained with
    /// (`wm_write`): `replace` erases fully wherever a write lands, so slots that weak writes
    /// (noise) touch thousands of times stay within what was written to them (see the README).
    #[arg(long, value_enum)]
    pub write_rule: Option<WriteRuleArg>,
}

/// A memory the output reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MemoryRead {
    /// The working memory's slots.
    Working,
    /// Long-term retrieval.
    LongTerm,
}

impl MemoryRead {
    /// The name `--without-read` takes.
    pub fn name(self) -> String {
        value_name(self)
    }
}

/// Runs `dmn eval`: one JSON line per distance, printed as each finishes.
pub fn run(args: EvalArgs) -> Result<()> {
    evaluate(&args, |line| println!("{line}")).map(|_| ())
}

/// Evaluates as `dmn eval` does, handing each distance's result to `each` as it finishes, and
/// returns them all.
pub fn evaluate(
    args: &EvalArgs,
    mut each: impl FnMut(&serde_json::Value),
) -> Result<Vec<serde_json::Value>> {
    let mut lines = Vec::new();
    if args.samples == 0 || args.batch_size == 0 {
        bail!("--samples and --batch-size must be at least 1");
    }
    let device = device(&args.device)?;
    let (config, model) = load_run(&args.run, &device)?;
    for read in &args.without_read {
        let has = match read {
            MemoryRead::Working => config.model.use_working_memory,
            MemoryRead::LongTerm => config.model.use_long_term_memory,
        };
        if !has {
            bail!(
                "--without-read {}: the model of {} has no {} memory to leave unread",
                read.name(),
                args.run.display(),
                read.name()
            );
        }
    }
    let model = match args.gate_cut {
        Some(cut) if !GATE_CUTS.contains(&cut) => {
            bail!("--gate-cut is {cut}; give a cut of at least 0 and below 1, e.g. 0.3")
        }
        Some(_) if !config.model.use_working_memory => bail!(
            "--gate-cut: the model of {} has no working memory whose writes it could cut",
            args.run.display()
        ),
        Some(cut) => model.with_gate_cut(cut),
        None => model,
    };
    let model = match args.write_rule {
        Some(_) if !config.model.use_working_memory => bail!(
            "--write-rule: the model of {} has no working memory to write",
            args.run.display()
        ),
        Some(rule) => model.with_write_rule(rule.into()),
        None => model,
    };
    let model = model.with_reads(MemoryReads {
        working: !args.without_read.contains(&MemoryRead::Working),
        long_term: !args.without_read.contains(&MemoryRead::LongTerm),
    });
    let kind = args.task.unwrap_or(config.train.task.kind);
    let distances = if args.distances.is_empty() {
        vec![config.train.task.length as u64]
    } else {
        args.distances.clone()
    };
    if let Some(bad) = distances.iter().find(|&&d| d == 0) {
        bail!("distance {bad} is not positive; give distances ≥ 1, e.g. --distances 1000,10000");
    }
    // Every task is built and checked before the first is evaluated: a refusal after an hour
    // of evaluation would lose that hour.
    let rows = args.batch_size.min(args.samples);
    let mut tasks = Vec::with_capacity(distances.len());
    for &distance in &distances {
        let spec = TaskSpec {
            kind,
            length: distance as usize,
            values: config.train.task.values,
            pairs: config.train.task.pairs,
            text: args.text.clone().or(config.train.task.text.clone()),
        };
        let task = build_eval_task(&spec, spec.length)?;
        if task.vocab_size() > config.model.vocab_size {
            bail!(
                "the {} task needs {} token ids but the run's model has {}",
                kind.name(),
                task.vocab_size(),
                config.model.vocab_size
            );
        }
        if kind != TaskKind::Text {
            task.check_streamed_rows(rows)?;
        }
        tasks.push((distance, task));
    }
    for (distance, task) in tasks {
        reset_peak();
        let started = Instant::now();
        let (mut loss, mut loss_terms, mut correct, mut scored, mut tokens) =
            (0.0f64, 0usize, 0.0f64, 0usize, 0usize);
        let mut ltm_bytes = 0.0f64;
        let (mut f1, mut rouge_l, mut exact) = (0.0f64, 0.0f64, 0usize);
        // Every task but text is answered at a few positions, kept to score whole answers.
        let answers = kind != TaskKind::Text;
        let mut done = 0;
        let mut round = 0;
        while done < args.samples {
            let n = args.batch_size.min(args.samples - done);
            let rng = &mut StdRng::seed_from_u64(step_seed(args.seed ^ distance, round));
            // Built a segment at a time where the task allows it: memory stays flat in length.
            let batch = task.sample_streamed(rng, n);
            let out = if answers {
                dmn::train::evaluate_predicting(&model, batch.as_ref(), &device)
            } else {
                evaluate_batch(&model, batch.as_ref(), &device)
            };
            let stats = out.read();
            loss += stats.loss as f64 * out.loss_terms as f64;
            loss_terms += out.loss_terms;
            correct += stats.accuracy as f64 * out.scored as f64;
            scored += out.scored;
            ltm_bytes += stats.ltm_bytes as f64 * n as f64;
            if answers {
                for (r, predicted) in out.predictions(batch.as_ref()).iter().enumerate() {
                    let reference: Vec<u32> =
                        batch.answers(r).into_iter().map(|(_, t)| t).collect();
                    exact += usize::from(*predicted == reference);
                    if kind == TaskKind::Summary {
                        f1 += unigram_f1(predicted, &reference);
                        rouge_l += dmn::tasks::rouge_l(predicted, &reference);
                    }
                }
            }
            tokens += batch.rows() * batch.seq_len();
            done += n;
            round += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let mean_loss = loss / loss_terms.max(1) as f64;
        let mut line = json!({
            "task": kind.name(),
            "distance": distance,
            "samples": args.samples,
            "accuracy": correct / scored.max(1) as f64,
            "loss": mean_loss,
            "ltm_bytes": ltm_bytes / done.max(1) as f64,
            "flops_per_token": dmn::flops::per_token(&config.model).total(),
            "tokens_per_s": tokens as f64 / seconds.max(1e-9),
            "peak_rss_bytes": peak_rss_bytes(),
        });
        if !args.without_read.is_empty() {
            let names: Vec<_> = args.without_read.iter().map(|r| r.name()).collect();
            line["without_read"] = json!(names);
        }
        if let Some(cut) = args.gate_cut {
            line["gate_cut"] = json!(cut);
        }
        if let Some(rule) = args.write_rule {
            line["write_rule"] = json!(value_name(rule));
        }
        if answers {
            // A sequence counts only when every scored token is right (the passkey's exact match).
            line["exact_match"] = json!(exact as f64 / done.max(1) as f64);
        }
        if kind == TaskKind::Summary {
            line["f1"] = json!(f1 / done.max(1) as f64);
            line["rouge_l"] = json!(rouge_l / done.max(1) as f64);
        }
        if kind == TaskKind::Text {
            line["bits_per_char"] = json!(mean_loss / std::f64::consts::LN_2);
            line["perplexity"] = json!(mean_loss.exp());
        }
        each(&line);
        lines.push(line);
    }
    Ok(lines)
}
