//! `dmn gui`: the desktop trainer. Training runs on a background thread ([`worker`]); the window
//! ([`app`]) draws what it reports in one panel per file ([`panels`]), beside its run controls
//! (`controls`), and closes by itself when asked to (`exit`). The panels and the
//! [`history`] they read also build for the browser, where `dmn-web` draws them.

#[cfg(not(target_arch = "wasm32"))]
pub mod app;
#[cfg(not(target_arch = "wasm32"))]
mod controls;
#[cfg(not(target_arch = "wasm32"))]
mod exit;
pub mod history;
pub mod panels;
#[cfg(not(target_arch = "wasm32"))]
pub mod worker;

use std::path::PathBuf;

use clap::Args;

use crate::commands::train::TrainArgs;
use crate::run_dir::fresh_run_path;
use crate::task_spec::TaskKind;

/// Arguments of `dmn gui`.
#[derive(Debug, Clone, Args)]
pub struct GuiArgs {
    /// Task to train on.
    #[arg(long, value_enum, default_value = "needle")]
    pub task: TaskKind,
    /// Model size preset.
    #[arg(long, default_value = "small", value_parser = ["tiny", "small", "paper"])]
    pub preset: String,
    /// Model config JSON (overrides --preset).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Device to train on (`cpu`, or `wgpu`: the window then renders with the same device).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Task length (default per task; with the defaults, needle at distance 128).
    #[arg(long)]
    pub length: Option<u64>,
    /// Which slots move to long-term memory: importance, lru, ppo or dqn (see `dmn train --help`).
    #[arg(long, default_value = "importance", value_parser = ["importance", "lru", "ppo", "dqn"])]
    pub policy: String,
    /// Total optimizer steps.
    #[arg(long, default_value_t = 300)]
    pub steps: u64,
    /// Open this run directory (written by `dmn train` or here): replay its metrics and continue
    /// it from its newest checkpoint.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Open this stream timeline (written by `dmn stream --trace`) in the timeline panel.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Pause training after this many steps, take the screenshot (if asked) and close.
    #[arg(long)]
    pub exit_after_steps: Option<u64>,
    /// Where to write a PNG of the window (with --exit-after-steps: just before closing).
    #[arg(long, requires = "exit_after_steps")]
    pub screenshot: Option<PathBuf>,
    /// Frames per second at most while training: each frame drawn takes CPU time from training
    /// when the renderer runs on the CPU (a software driver, no GPU).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: u32,
    /// Light theme instead of dark.
    #[arg(long)]
    pub light: bool,
}

impl GuiArgs {
    /// The training settings of a new run into `out`: the embedded default's, with this
    /// window's choices; a task or length other than the default's trains without its
    /// curriculum.
    pub fn train_args(&self, out: PathBuf) -> TrainArgs {
        let default = TrainArgs::embedded_default(out);
        let schedule = if self.task == TaskKind::Needle && self.length.is_none() {
            default
        } else {
            TrainArgs {
                length: self.length,
                curriculum_start: None,
                curriculum_steps: None,
                ..default
            }
        };
        TrainArgs {
            task: Some(self.task),
            preset: self.preset.clone(),
            config: self.config.clone(),
            policy: Some(self.policy.clone()),
            device: self.device.clone(),
            steps: Some(self.steps),
            ..schedule
        }
    }
}

/// A fresh run directory for the window's runs.
pub fn new_run_path(task: TaskKind, preset: &str) -> PathBuf {
    fresh_run_path(&format!("gui-{}-{preset}", task.name()))
}

/// Runs `dmn gui`: opens the window and returns when it closes.
#[cfg(not(target_arch = "wasm32"))]
pub fn run(args: GuiArgs) -> anyhow::Result<()> {
    use anyhow::bail;

    if args.exit_after_steps == Some(0) || args.steps == 0 {
        bail!("--steps and --exit-after-steps must be at least 1");
    }
    if let Some(run) = &args.run
        && !run.join("config.json").is_file()
    {
        bail!(
            "{} is not a run directory (no config.json); pass a directory written by `dmn train` or `dmn gui`",
            run.display()
        );
    }
    app::run_window(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        gui: GuiArgs,
    }

    fn args(extra: &[&str]) -> TrainArgs {
        let argv = std::iter::once("gui").chain(extra.iter().copied());
        Wrap::parse_from(argv).gui.train_args(PathBuf::from("out"))
    }

    #[test]
    fn the_default_window_run_is_the_embedded_default() {
        let a = args(&[]);
        let d = TrainArgs::embedded_default(PathBuf::from("out"));
        assert_eq!(
            (a.length, a.curriculum_start, a.curriculum_steps),
            (d.length, d.curriculum_start, d.curriculum_steps)
        );
        assert_eq!(a.preset, "small");
    }

    #[test]
    fn another_task_or_length_drops_the_needle_curriculum() {
        let a = args(&["--task", "copy"]);
        assert_eq!((a.length, a.curriculum_start), (None, None));
        let a = args(&["--length", "500", "--policy", "ppo"]);
        assert_eq!((a.length, a.curriculum_start), (Some(500), None));
        assert_eq!(a.policy.as_deref(), Some("ppo"));
    }
}
