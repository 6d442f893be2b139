//! `dmn train`: trains a model on a task, streaming long sequences in segments (truncated
//! back-propagation), logging metrics and writing resumable checkpoints (see [`Session`]).
//!
//! One file per subcommand, as for the others: its arguments (a quarter of the file, each with
//! the help text `dmn train --help` prints), the run directory they describe and the run itself
//! read together, which takes the file past 400 lines.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use dmn::{CompressionKind, DmnConfig, EncoderKind, TransferPolicy};

use super::{WriteRuleArg, devices};
use crate::checkpoint;
use crate::progress::Progress;
use crate::run_dir::{RunConfig, RunDir};
use crate::session::Session;
use crate::task_spec::{
    Curriculum, DEFAULT_PAIRS, Phase, PhaseSteps, TaskKind, TaskSpec, TrainSpec, build_task,
};

/// Arguments of `dmn train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Task to train on.
    #[arg(long, value_enum, required_unless_present = "resume")]
    pub task: Option<TaskKind>,
    /// Text file or folder (for `--task text`).
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// Model size preset.
    #[arg(long, default_value = "tiny", value_parser = ["tiny", "small", "paper"])]
    pub preset: String,
    /// Model config JSON (overrides --preset).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Device to train on.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Data-parallel training over several devices, e.g. `cpu,cpu` (overrides --device).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Total optimizer steps (with --resume: the new total).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Seed of initialization and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run directory to create (or to continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Start the new run from these safetensors weights (written by `dmn export`) instead of a
    /// fresh initialization; they must fit the run's model config.
    #[arg(long, conflicts_with = "resume")]
    pub weights: Option<PathBuf>,
    /// Task length: the needle distance, the copy region, the sequence length… (default per task).
    #[arg(long, alias = "distance")]
    pub length: Option<u64>,
    /// Distinct values to remember (needle, passkey digits, multi-key values, copy, induction).
    #[arg(long, default_value_t = 16)]
    pub values: usize,
    /// Key/value pairs per sequence of the multi-key needle (at most one per 16 tokens of the
    /// length, so a curriculum starts with few).
    #[arg(long, default_value_t = DEFAULT_PAIRS)]
    pub pairs: usize,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Learning rate at the last step: the rate decays from --lr along a cosine (default: no
    /// decay).
    #[arg(long)]
    pub min_lr: Option<f64>,
    /// Steps between checkpoints.
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: u64,
    /// Checkpoints to keep.
    #[arg(long, default_value_t = 3)]
    pub keep: usize,
    /// Steps between metrics lines.
    #[arg(long, default_value_t = 10)]
    pub log_every: u64,
    /// Which slots move to long-term memory: `importance` or its synonym `supervised` (the
    /// controller's importance head, learned through the task loss, no RL), `lru` (the least-used slots, a fixed heuristic), `ppo`
    /// (slots sampled from the importance head and a compression level or discard for each from
    /// the compression head, trained by PPO on task reward + λ compression) or `dqn` (the heads'
    /// scores as Q-values, ε-greedy, trained by Q-learning on that reward).
    #[arg(long, value_parser = ["importance", "supervised", "lru", "ppo", "dqn"])]
    pub policy: Option<String>,
    /// Base encoder: `ssm` (selective SSM, the default), `linear-attention`, or one of the
    /// evaluation's baselines `lstm`, `gru`, `transformer` (softmax attention over a sliding
    /// window of `attn_window` tokens).
    #[arg(long, value_parser = ["ssm", "linear-attention", "lstm", "gru", "transformer"])]
    pub encoder: Option<String>,
    /// Which memories the model has: `full` (working and long-term, the default), `working`
    /// (no long-term memory) or `none` (the encoder alone: with `--encoder ssm`, the
    /// Mamba-only baseline).
    #[arg(long, value_parser = ["full", "working", "none"])]
    pub memory: Option<String>,
    /// How slots are compressed for long-term memory: `vae` (the default), or the ablations
    /// `mean-pool` (a fixed average over channel groups) and `none` (stored whole).
    #[arg(long, value_parser = ["vae", "mean-pool", "none"])]
    pub compression: Option<String>,
    /// Long-term memory layout: `hierarchical` (log-spaced levels, the default) or `flat` (one
    /// store of the same capacity keeping the most important entries; an ablation).
    #[arg(long, value_parser = ["hierarchical", "flat"])]
    pub ltm: Option<String>,
    /// Working-memory slots (default: the preset's).
    #[arg(long)]
    pub wm_slots: Option<usize>,
    /// Long-term memory levels (default: the preset's). A flat store holds levels × entries
    /// per level: give the multi-key needle at least as many as it has pairs.
    #[arg(long)]
    pub ltm_levels: Option<usize>,
    /// Entries per long-term level, which is also how many slots move at each segment end
    /// (default: the preset's; at most the working-memory slots).
    #[arg(long)]
    pub ltm_entries_per_level: Option<usize>,
    /// Segments one backward pass spans through the memories' state (default: the model
    /// config's, 64; 1 truncates at every segment, as an ablation).
    #[arg(long)]
    pub credit_segments: Option<usize>,
    /// λ of the learned policies' reward `r_task + λ · r_comp` (default: the model config's,
    /// 0.1): how much a kept latent dimension costs against task accuracy.
    #[arg(long)]
    pub policy_cost: Option<f64>,
    /// Weight of the write-pressure loss, which penalizes the mean write gate (default: the
    /// model config's, 0.001). A gate below the cut writes nothing at all; a higher weight
    /// lowers the mean gate but, measured on the passkey, does not by itself close the gates
    /// on noise (see the README).
    #[arg(long)]
    pub write_pressure: Option<f64>,
    /// Write gates below this write nothing at all, in training and at inference (the model
    /// config's `wm_gate_cut`, default 0.05). Where the gates on noise stay below the cut, the
    /// memory is bit-identical however long the noise runs (see the README).
    #[arg(long)]
    pub gate_cut: Option<f64>,
    /// How a working-memory write mixes its candidate into a slot: `additive` (the default; a
    /// learned erase, then the candidate added) or `replace` (every write erases fully where it
    /// writes, so slots stay within what was written to them however long the input).
    #[arg(long, value_enum)]
    pub write_rule: Option<WriteRuleArg>,
    /// Training phases, in order (seed 000 §2.4.3): `pretrain` (encoder alone, next-token),
    /// `memory` (end to end), `policy` (encoder frozen). Needs --phase-steps.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        requires = "phase_steps",
        conflicts_with = "steps"
    )]
    pub phases: Vec<Phase>,
    /// Steps of each phase given in --phases, e.g. `200,1000,300`.
    #[arg(long, value_delimiter = ',', requires = "phases")]
    pub phase_steps: Vec<u64>,
    /// Curriculum: task length at the first step (grows geometrically to --length).
    #[arg(long, requires = "curriculum_steps")]
    pub curriculum_start: Option<u64>,
    /// Curriculum: steps of growth until the full length.
    #[arg(long, requires = "curriculum_start")]
    pub curriculum_steps: Option<u64>,
    /// Curriculum: steps at the start length before growth begins.
    #[arg(long, default_value_t = 0, requires = "curriculum_start")]
    pub curriculum_hold: u64,
    /// At every segment boundary, each sequence continues from another sequence's encoder
    /// state: the encoder cannot carry a needle across a boundary, as after a gap far beyond
    /// its memory, so the memories must (needle, passkey, multi-key; not text).
    #[arg(long)]
    pub simulate_gaps: bool,
}

impl TrainArgs {
    /// The command line's defaults for `task` into `out`.
    pub fn new(task: TaskKind, out: PathBuf) -> Self {
        Self {
            task: Some(task),
            text: None,
            preset: "tiny".into(),
            config: None,
            device: "cpu".into(),
            devices: Vec::new(),
            steps: None,
            seed: 0,
            out,
            resume: false,
            weights: None,
            length: None,
            values: 16,
            pairs: DEFAULT_PAIRS,
            batch_size: 16,
            lr: 3e-3,
            min_lr: None,
            checkpoint_every: 100,
            keep: 3,
            log_every: 10,
            curriculum_start: None,
            curriculum_steps: None,
            curriculum_hold: 0,
            simulate_gaps: false,
            phases: Vec::new(),
            phase_steps: Vec::new(),
            policy: None,
            policy_cost: None,
            write_pressure: None,
            gate_cut: None,
            write_rule: None,
            encoder: None,
            memory: None,
            compression: None,
            ltm: None,
            wm_slots: None,
            ltm_levels: None,
            ltm_entries_per_level: None,
            credit_segments: None,
        }
    }

    /// The embedded default: the `small` preset on needle retrieval at distance 128 with a
    /// curriculum from 16, 300 steps on the CPU.
    pub fn embedded_default(out: PathBuf) -> Self {
        Self {
            preset: "small".into(),
            steps: Some(300),
            length: Some(128),
            checkpoint_every: 50,
            curriculum_start: Some(16),
            curriculum_steps: Some(150),
            ..Self::new(TaskKind::Needle, out)
        }
    }
}

/// Where a finished run went.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The run directory.
    pub run: PathBuf,
    /// Last step.
    pub step: u64,
    /// Accuracy of the last step.
    pub accuracy: f32,
}

fn positive(name: &str, v: u64) -> Result<u64> {
    if v == 0 {
        bail!("--{name} must be at least 1");
    }
    Ok(v)
}

/// `model` with the command line's model options applied: policy, encoder, memories,
/// compression, long-term layout and capacity, working-memory slots and policy cost.
pub fn with_model_options(model: DmnConfig, args: &TrainArgs) -> Result<DmnConfig> {
    let model = match args.policy.as_deref() {
        Some("lru") => model.with_transfer_policy(TransferPolicy::Lru),
        Some("ppo") => model.with_transfer_policy(TransferPolicy::Ppo),
        Some("dqn") => model.with_transfer_policy(TransferPolicy::Dqn),
        Some(_) => model.with_transfer_policy(TransferPolicy::Importance),
        None => model,
    };
    let model = match args.encoder.as_deref() {
        Some("linear-attention") => model.with_encoder(EncoderKind::LinearAttention),
        Some("lstm") => model.with_encoder(EncoderKind::Lstm),
        Some("gru") => model.with_encoder(EncoderKind::Gru),
        Some("transformer") => model.with_encoder(EncoderKind::Transformer),
        Some(_) => model.with_encoder(EncoderKind::Ssm),
        None => model,
    };
    let model = match args.memory.as_deref() {
        Some("none") => model
            .with_use_working_memory(false)
            .with_use_long_term_memory(false),
        Some("working") => model
            .with_use_working_memory(true)
            .with_use_long_term_memory(false),
        Some(_) => model
            .with_use_working_memory(true)
            .with_use_long_term_memory(true),
        None => model,
    };
    let model = match args.compression.as_deref() {
        Some("mean-pool") => model.with_ltm_compression(CompressionKind::MeanPool),
        Some("none") => model.with_ltm_compression(CompressionKind::Uncompressed),
        Some(_) => model.with_ltm_compression(CompressionKind::Vae),
        None => model,
    };
    let model = match args.ltm.as_deref() {
        Some(layout) => model.with_ltm_hierarchical(layout == "hierarchical"),
        None => model,
    };
    let model = match args.wm_slots {
        // A working memory smaller than the preset's top-k reads all its slots.
        Some(slots) => {
            let top_k = model.wm_top_k.min(slots.max(1));
            model.with_wm_slots(slots).with_wm_top_k(top_k)
        }
        None => model,
    };
    let model = match args.ltm_levels {
        Some(levels) => model.with_ltm_levels(levels),
        None => model,
    };
    let model = match args.ltm_entries_per_level {
        Some(entries) => model.with_ltm_entries_per_level(entries),
        None => model,
    };
    let model = match args.credit_segments {
        Some(segments) => model.with_credit_segments(segments),
        None => model,
    };
    let model = match non_negative("--policy-cost", args.policy_cost, "λ", 0.1)? {
        Some(cost) => model.with_policy_cost(cost),
        None => model,
    };
    let model = match non_negative("--write-pressure", args.write_pressure, "weight", 0.05)? {
        Some(weight) => {
            let weights = model.loss_weights.clone().with_pressure(weight);
            model.with_loss_weights(weights)
        }
        None => model,
    };
    let model = match args.gate_cut {
        Some(cut) => model.with_wm_gate_cut(cut),
        None => model,
    };
    let model = match args.write_rule {
        Some(rule) => model.with_wm_write(rule.into()),
        None => model,
    };
    Ok(model)
}

/// `value` of `flag` if it is a finite number ≥ 0, else an error naming the flag, what it
/// weighs and an example.
fn non_negative(flag: &str, value: Option<f64>, what: &str, example: f64) -> Result<Option<f64>> {
    match value {
        Some(v) if !(v.is_finite() && v >= 0.0) => {
            bail!("{flag} is {v}; give a finite {what} ≥ 0, e.g. {example}")
        }
        other => Ok(other),
    }
}

/// Validates `args` and creates the run directory with its `config.json`.
pub fn new_run(args: &TrainArgs) -> Result<(RunDir, RunConfig)> {
    let kind = args.task.context("--task is required for a new run")?;
    let length = positive(
        "length",
        args.length.unwrap_or(kind.default_length() as u64),
    )? as usize;
    let spec = TaskSpec {
        kind,
        length,
        values: args.values,
        pairs: args.pairs,
        text: args.text.clone(),
    };
    let task = build_task(&spec, length)?; // validates the task (and reads the text) before anything is written
    dmn::tasks::check_batch_size(args.batch_size, task.seq_len())?;
    let model = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the config {}", path.display()))?;
            DmnConfig::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => {
            DmnConfig::preset(&args.preset, task.vocab_size()).expect("clap checks the preset name")
        }
    };
    let model = with_model_options(model, args)?;
    model.validate()?; // before the run directory exists: a model that cannot be built makes no run
    if model.vocab_size < task.vocab_size() {
        bail!(
            "the model's vocab_size ({}) is smaller than the {} task needs ({})",
            model.vocab_size,
            kind.name(),
            task.vocab_size()
        );
    }
    let curriculum = match (args.curriculum_start, args.curriculum_steps) {
        (Some(start), Some(steps)) => Some(Curriculum {
            start: positive("curriculum-start", start)? as usize,
            steps: positive("curriculum-steps", steps)?,
            hold: args.curriculum_hold,
        }),
        _ => None,
    };
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.simulate_gaps && kind == TaskKind::Text {
        bail!(
            "--simulate-gaps hands each sequence's encoder state to another at segment \
             boundaries, but text is predicted from the text just before; drop it for text"
        );
    }
    if !(args.lr.is_finite() && args.lr > 0.0) {
        bail!("--lr must be a positive number");
    }
    if let Some(min_lr) = args.min_lr
        && !(min_lr.is_finite() && (0.0..=args.lr).contains(&min_lr))
    {
        bail!(
            "--min-lr is {min_lr}; give the rate of the last step, from 0 to --lr ({}), e.g. {}",
            args.lr,
            args.lr / 10.0
        );
    }
    if args.phases.len() != args.phase_steps.len() {
        bail!(
            "--phases names {} phases but --phase-steps gives {} counts; give one count per phase",
            args.phases.len(),
            args.phase_steps.len()
        );
    }
    let mut phases = Vec::new();
    for (&phase, &steps) in args.phases.iter().zip(&args.phase_steps) {
        if phases.iter().any(|p: &PhaseSteps| p.phase == phase) {
            bail!("--phases names `{}` twice", phase.name());
        }
        phases.push(PhaseSteps {
            phase,
            steps: positive("phase-steps", steps)?,
        });
    }
    if !phases.is_sorted_by_key(|p| p.phase as u8) {
        bail!("--phases must come in the order pretrain, memory, policy");
    }
    let total = match phases.is_empty() {
        true => args.steps.unwrap_or(1000),
        false => phases.iter().map(|p| p.steps).sum(),
    };
    let train = TrainSpec {
        task: spec,
        steps: positive("steps", total)?,
        seed: args.seed,
        batch_size: args.batch_size,
        lr: args.lr,
        min_lr: args.min_lr,
        checkpoint_every: positive("checkpoint-every", args.checkpoint_every)?,
        keep_checkpoints: args.keep.max(1),
        log_every: positive("log-every", args.log_every)?,
        curriculum,
        device: if args.devices.is_empty() {
            args.device.clone()
        } else {
            args.devices.join(",")
        },
        phases,
        simulate_gaps: args.simulate_gaps,
        init_weights: args.weights.clone(),
    };
    if let Some(path) = &args.weights {
        // Checked before the run directory exists: weights for another model make no run.
        crate::weights::load(path, model.init(&burn::tensor::Device::flex())?)?;
    }
    let workers = devices(&train.device)?.len();
    if train.batch_size < workers {
        bail!(
            "--batch-size ({}) must be at least the number of devices ({workers})",
            train.batch_size
        );
    }
    let run = RunDir::create(&args.out)?;
    let config = RunConfig { model, train };
    run.write_config(&config)?;
    Ok((run, config))
}

/// Runs `dmn train`.
pub fn run(args: TrainArgs) -> Result<TrainOutcome> {
    let (run, mut config) = if args.resume {
        let run = RunDir::open(&args.out)?;
        let config = run.read_config()?;
        if checkpoint::latest(&run.checkpoints())?.is_none() {
            bail!(
                "{} has no checkpoint to resume from; start it again without --resume",
                args.out.display()
            );
        }
        (run, config)
    } else {
        new_run(&args)?
    };
    if let (true, Some(steps)) = (args.resume, args.steps) {
        config.train.steps = positive("steps", steps)?;
        run.write_config(&config)?;
    }
    let mut session = Session::start(run, config, args.resume)?;
    let (spec, path) = (session.config.train.clone(), session.run.path.clone());
    if args.resume {
        println!(
            "resuming {} from step {}",
            path.display(),
            session.state.step
        );
    }
    if session.finished() {
        println!(
            "{} is already at step {} of {}; pass a larger --steps to continue",
            path.display(),
            session.state.step,
            spec.steps
        );
        return Ok(TrainOutcome {
            run: path,
            step: session.state.step,
            accuracy: f32::NAN,
        });
    }

    let progress = Progress::new(session.state.step, spec.steps, spec.log_every);
    let mut accuracy = f32::NAN;
    while !session.finished() {
        let report = session.step()?;
        match (&report.stats, report.tokens_per_s) {
            (Some(stats), Some(tokens_per_s)) => {
                accuracy = stats.accuracy;
                progress.step(report.step, stats, tokens_per_s, report.length);
            }
            _ => progress.advance(report.step),
        }
    }
    progress.finish();
    Ok(TrainOutcome {
        run: path,
        step: session.state.step,
        accuracy,
    })
}

/// The embedded default: the `small` preset on needle retrieval, on the CPU.
pub fn default_run() -> Result<()> {
    let out = crate::run_dir::fresh_run_path("needle-small");
    println!(
        "DMN: training the `small` preset on needle retrieval (distance 128) on the CPU → {}",
        out.display()
    );
    let args = TrainArgs::embedded_default(out);
    let outcome = run(args)?;
    println!(
        "\nrun written to {} (step {}, last accuracy {:.3})",
        outcome.run.display(),
        outcome.step,
        outcome.accuracy
    );
    println!(
        "evaluate it:   dmn eval --run {} --task needle --distances 128,1000,10000",
        outcome.run.display()
    );
    println!(
        "stream it:     dmn stream --run {} --length 1000000",
        outcome.run.display()
    );
    Ok(())
}
