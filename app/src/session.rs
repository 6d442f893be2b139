//! [`Session`]: a training run in progress, one step at a time. `dmn train` loops over it on the
//! terminal; the desktop trainer drives it from its training thread.
//!
//! The data of step `s` is drawn from a generator seeded by `(seed, s)`, and the device RNG is
//! reseeded the same way, so a run resumed from step `s` continues exactly as if uninterrupted.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::Module;
use burn::tensor::Device;
use dmn::MemoryTrace;
use dmn::tasks::{EVAL_SEED, Task, step_seed};
use dmn::train::{OptimizerConfig, StepStats, Trainer};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::checkpoint::{self, TrainState};
use crate::commands::devices;
use crate::memory_usage::peak_rss_bytes;
use crate::run_dir::{RunConfig, RunDir};
use crate::task_spec::{Phase, build_task};

/// A run directory with its model, optimizer and position.
pub struct Session {
    /// Where config, metrics and checkpoints go.
    pub run: RunDir,
    /// The run's model and training config.
    pub config: RunConfig,
    /// Model and optimizer.
    pub trainer: Trainer,
    /// The last completed step.
    pub state: TrainState,
    device: Device,
    /// The task at its current (curriculum) length.
    task: Option<(usize, Box<dyn Task>)>,
    /// Whether the encoder has been frozen for the policy phase.
    frozen: bool,
    /// When the figures of a step were last read (or this session's first step began), and the
    /// tokens trained by then.
    last_read: Option<(Instant, u64)>,
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step just completed.
    pub step: u64,
    /// Task length at this step.
    pub length: usize,
    /// Loss, accuracy and memory statistics, read on the steps that log a metrics line or
    /// write a checkpoint ([`Session::step`]); `None` on the others.
    pub stats: Option<StepStats>,
    /// Training throughput since the previous step whose figures were read (`None` with the
    /// figures: an unread step only queued its work).
    pub tokens_per_s: Option<f64>,
    /// The metrics line, when this step wrote one to `metrics.jsonl`.
    pub metrics: Option<serde_json::Value>,
    /// The checkpoint this step wrote, if any.
    pub checkpoint: Option<PathBuf>,
}

impl Session {
    /// A session on `run` with `config`, fresh or continued from its newest checkpoint, on the
    /// devices the config names.
    pub fn start(run: RunDir, config: RunConfig, resume: bool) -> Result<Self> {
        let devices = devices(&config.train.device)?;
        Self::start_on(run, config, resume, devices)
    }

    /// As [`Session::start`], on devices created by the caller (the desktop trainer shares its
    /// wgpu device with the window).
    pub fn start_on(
        run: RunDir,
        config: RunConfig,
        resume: bool,
        devices: Vec<Device>,
    ) -> Result<Self> {
        let spec = &config.train;
        let workers: Vec<_> = devices.into_iter().map(|d| d.autodiff()).collect();
        let device = workers[0].clone();
        device.seed(spec.seed);
        let model = config.model.init(&device)?;
        // A resumed run takes its weights from its checkpoint, whatever it started from.
        let model = match (&spec.init_weights, resume) {
            (Some(path), false) => crate::weights::load(path, model)?,
            _ => model,
        };
        let optimizer = OptimizerConfig::new().with_lr(spec.lr);
        let mut trainer = Trainer::data_parallel(model, config.model.clone(), optimizer, workers);
        trainer.simulate_gaps = spec.simulate_gaps;
        let mut session = Self {
            state: TrainState {
                step: 0,
                seed: spec.seed,
                tokens: 0,
            },
            run,
            config,
            trainer,
            device,
            task: None,
            frozen: false,
            last_read: None,
        };
        if resume {
            session.resume()?;
        }
        Ok(session)
    }

    /// Continues from the run's newest checkpoint that loads: a corrupt one is reported and
    /// the one before it is tried, so a damaged file costs the steps since that one, not the run.
    fn resume(&mut self) -> Result<()> {
        let mut checkpoints = checkpoint::list(&self.run.checkpoints())?;
        let Some((_, newest)) = checkpoints.pop() else {
            bail!(
                "{} has no checkpoint to resume from; start it again without --resume",
                self.run.path.display()
            );
        };
        let Err(mut error) = self.load(&newest) else {
            return Ok(());
        };
        while let Some((_, earlier)) = checkpoints.pop() {
            eprintln!(
                "warning: {error:#}\nwarning: resuming from the checkpoint before it, {}",
                earlier.display()
            );
            match self.load(&earlier) {
                Ok(()) => return Ok(()),
                Err(e) => error = e,
            }
        }
        Err(error.context(format!(
            "no checkpoint of {} could be loaded",
            self.run.path.display()
        )))
    }

    /// Continues from `checkpoint` (one of this run's or another run's with the same model):
    /// metrics after its step are dropped, so the log stays one consistent history.
    pub fn load(&mut self, checkpoint: &std::path::Path) -> Result<()> {
        let (model, optim_record, saved) =
            checkpoint::load_all(checkpoint, self.trainer.model.clone())?;
        self.trainer.model = model;
        let optim = self.trainer.optimizer().clone().load_record(optim_record);
        self.trainer.set_optimizer(optim);
        self.trainer
            .restore_policy(|name| checkpoint::read_optional(checkpoint, name))
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e}; delete this checkpoint to fall back to an earlier one",
                    checkpoint.display()
                )
            })?;
        self.state = saved;
        self.run.truncate_metrics_after(self.state.step)?;
        Ok(())
    }

    /// Whether the configured number of steps is done.
    pub fn finished(&self) -> bool {
        self.state.step >= self.config.train.steps
    }

    /// The task at the length the curriculum sets for `step`.
    fn task_at(&mut self, step: u64) -> Result<(usize, &dyn Task)> {
        let spec = &self.config.train;
        let length = spec
            .curriculum
            .map_or(spec.task.length, |c| c.length_at(step, spec.task.length));
        if self.task.as_ref().is_none_or(|(l, _)| *l != length) {
            self.task = Some((length, build_task(&spec.task, length)?));
        }
        let (_, task) = self.task.as_ref().expect("built above");
        Ok((length, task.as_ref()))
    }

    /// Sets the trainer up for `phase`: memories off while pretraining; the encoder frozen from
    /// the policy phase on.
    fn enter(&mut self, phase: Phase) {
        self.trainer.use_memory = phase != Phase::Pretrain;
        if phase == Phase::Policy && !self.frozen {
            self.trainer.freeze_encoder();
            self.frozen = true;
        }
    }

    /// Trains one step; writes its metrics line and checkpoint when they are due.
    ///
    /// The step's figures (loss, accuracy, memory statistics) are read back only when a metrics
    /// line or a checkpoint is due: the read waits for the device to finish the step, so between
    /// logged steps a GPU runs one step while the next is being queued. The loss is checked at
    /// every read, and a checkpoint is never written without one, so a diverged model is never
    /// saved.
    pub fn step(&mut self) -> Result<StepReport> {
        self.train_step(false)
    }

    /// As [`Session::step`], reading the step's figures whether or not they are due (the
    /// desktop trainer's single step shows them).
    pub fn step_and_read(&mut self) -> Result<StepReport> {
        self.train_step(true)
    }

    fn train_step(&mut self, read: bool) -> Result<StepReport> {
        let step = self.state.step + 1;
        let spec = self.config.train.clone();
        let seed = step_seed(spec.seed, step);
        let phase = spec.phase_at(step);
        self.enter(phase);
        let (length, task) = self.task_at(step)?;
        let batch = task.sample(&mut StdRng::seed_from_u64(seed), spec.batch_size);
        let batch = match phase {
            Phase::Pretrain => batch.next_token(),
            _ => batch,
        };
        self.device.seed(seed);
        self.trainer.optimizer_config.lr = spec.lr_at(step);

        let logged = step % spec.log_every == 0 || step == spec.steps;
        let checkpointed = step % spec.checkpoint_every == 0 || step == spec.steps;
        let (since, tokens_then) = *self
            .last_read
            .get_or_insert((Instant::now(), self.state.tokens));
        let tensors = self.trainer.step(&batch);
        self.state = TrainState {
            step,
            seed: spec.seed,
            tokens: self.state.tokens + (batch.batch * batch.len) as u64,
        };
        if !(read || logged || checkpointed) {
            return Ok(StepReport {
                step,
                length,
                stats: None,
                tokens_per_s: None,
                metrics: None,
                checkpoint: None,
            });
        }
        let stats = tensors.read();
        let tokens_per_s =
            (self.state.tokens - tokens_then) as f64 / since.elapsed().as_secs_f64().max(1e-9);
        if !stats.loss.is_finite() {
            bail!(
                "the loss became {} by step {step}; lower the learning rate or resume from the last checkpoint",
                stats.loss
            );
        }

        let policy = self.trainer.last_policy.take();
        let metrics = logged.then(|| {
            let mut line = json!({
                "step": step,
                "phase": phase.name(),
                "task": spec.task.kind.name(),
                "length": length,
                "loss": stats.loss,
                "accuracy": stats.accuracy,
                "lr": self.trainer.optimizer_config.lr,
                "tokens_per_s": tokens_per_s,
                "tokens": self.state.tokens,
                "slot_usage_entropy": stats.slot_usage_entropy,
                "read_sparsity": stats.read_entropy,
                "write_gate": stats.write_gate,
                "mean_slot_age": stats.mean_age,
                "ltm_fill": stats.ltm_fill,
                "ltm_bytes": stats.ltm_bytes,
                "peak_rss_bytes": peak_rss_bytes(),
            });
            if let Some(p) = policy {
                line["episode_reward"] = json!(p.episode_reward);
                line["r_task"] = json!(p.r_task);
                line["r_comp"] = json!(p.r_comp);
                line["value_loss"] = json!(p.value_loss);
                line["transfers_per_update"] = json!(p.transfers_per_update);
                // Entropy and KL describe PPO's stochastic policy; Q-learning explores by ε.
                if self.config.model.transfer_policy == dmn::TransferPolicy::Dqn {
                    line["epsilon"] = json!(p.epsilon);
                } else {
                    line["policy_entropy"] = json!(p.entropy);
                    line["approx_kl"] = json!(p.approx_kl);
                }
            }
            line
        });
        if let Some(line) = &metrics {
            self.run.append_metrics(line)?;
        }
        let checkpoint = checkpointed.then(|| self.save()).transpose()?;
        self.last_read = Some((Instant::now(), self.state.tokens));
        Ok(StepReport {
            step,
            length,
            stats: Some(stats),
            tokens_per_s: Some(tokens_per_s),
            metrics,
            checkpoint,
        })
    }

    /// Writes a checkpoint of the current step now.
    pub fn save(&self) -> Result<PathBuf> {
        checkpoint::save(
            &self.run.checkpoints(),
            &self.trainer.model,
            self.trainer.optimizer().to_record(),
            &self
                .trainer
                .policy_snapshot()
                .map_err(|e| anyhow::anyhow!(e))?,
            &self.state,
            self.config.train.keep_checkpoints,
        )
    }

    /// What the memory does on one held-out sequence of the current task (a fixed sample, so
    /// successive traces show the model changing, not the data).
    pub fn trace(&mut self) -> Result<Vec<MemoryTrace>> {
        let (step, seed) = (self.state.step.max(1), u64::MAX - self.state.seed);
        let (_, task) = self.task_at(step)?;
        let batch = task.sample(&mut StdRng::seed_from_u64(seed), 1);
        let device = self.device.clone().without_autodiff();
        let model = self.trainer.model.valid();
        Ok(dmn::train::trace(&model, &batch, &device))
    }

    /// Held-out accuracy of the current model at task length `distance`, over `samples`
    /// sequences (the evaluation of `dmn eval`, on one batch).
    pub fn evaluate(&self, distance: usize, samples: usize) -> Result<f32> {
        let spec = crate::task_spec::TaskSpec {
            length: distance,
            ..self.config.train.task.clone()
        };
        let task = crate::task_spec::build_eval_task(&spec, distance)?;
        dmn::tasks::check_batch_size(samples, task.seq_len())?;
        let batch = task.sample(
            &mut StdRng::seed_from_u64(step_seed(EVAL_SEED, distance as u64)),
            samples,
        );
        let device = self.device.clone().without_autodiff();
        let out = dmn::train::evaluate(&self.trainer.model.valid(), &batch, &device);
        Ok(out.read().accuracy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::train::{TrainArgs, new_run};
    use crate::task_spec::TaskKind;

    #[test]
    fn figures_are_read_on_the_steps_that_log_or_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let args = TrainArgs {
            length: Some(12),
            steps: Some(7),
            log_every: 3,
            checkpoint_every: 5,
            ..TrainArgs::new(TaskKind::Needle, dir.path().join("run"))
        };
        let (run, config) = new_run(&args).unwrap();
        let mut session = Session::start(run, config, false).unwrap();
        let mut read = Vec::new();
        while !session.finished() {
            let report = session.step().unwrap();
            assert_eq!(report.stats.is_some(), report.tokens_per_s.is_some());
            assert_eq!(
                report.metrics.is_some(),
                report.step % 3 == 0 || report.step == 7
            );
            if report.stats.is_some() {
                read.push(report.step);
            }
        }
        // Logged at 3, 6 and the last step; checkpointed at 5 and the last.
        assert_eq!(read, [3, 5, 6, 7]);
        assert!(session.step_and_read().is_ok_and(|r| r.stats.is_some()));
    }
}
