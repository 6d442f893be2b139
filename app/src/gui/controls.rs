//! The run controls on the left of the trainer window: the next run's settings, training
//! commands and checkpoints. They draw and report what was clicked; the window acts on it.

use std::path::PathBuf;

use eframe::egui;

use super::GuiArgs;
use super::worker::Command;
use crate::task_spec::TaskKind;

/// Distances of the accuracy-by-distance evaluation, as multiples of the trained length.
const EVAL_MULTIPLES: [usize; 4] = [1, 4, 16, 64];

/// What the user asked for in the controls.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start a fresh run with the settings shown.
    NewRun,
    /// Open a run directory and continue it.
    OpenRun(PathBuf),
    /// Pass a command to the training thread.
    Send(Command),
}

/// Where training stands, as the controls show it.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Training runs (rather than being paused).
    pub running: bool,
    pub step: u64,
    /// The run's last step.
    pub total: u64,
    /// The task length of the latest step, if one was logged.
    pub length: Option<usize>,
}

/// The controls' own state: the paths typed into them.
#[derive(Debug, Default)]
pub struct Controls {
    /// A checkpoint directory to load.
    pub checkpoint_path: String,
    /// A run directory to open.
    pub run_path: String,
}

impl Controls {
    /// Draws the controls for the next run's `args` and the current `progress`; returns what
    /// was clicked.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        args: &mut GuiArgs,
        progress: Progress,
    ) -> Option<Action> {
        let new_run = run_settings(ui, args);
        ui.separator();
        let command = training(ui, progress);
        ui.separator();
        let loaded = self.checkpoints(ui);
        new_run.or(command).or(loaded)
    }

    fn checkpoints(&mut self, ui: &mut egui::Ui) -> Option<Action> {
        let mut action = None;
        ui.heading("Checkpoints");
        if ui.button("Save checkpoint").clicked() {
            action = Some(Action::Send(Command::Save));
        }
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut self.checkpoint_path)
                .on_hover_text("A checkpoint directory, e.g. runs/x/checkpoints/step-00000100");
            if ui.button("Load").clicked() {
                let path = PathBuf::from(self.checkpoint_path.trim());
                action = Some(Action::Send(Command::Load(path)));
            }
        });
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut self.run_path)
                .on_hover_text("A run directory written by `dmn train` or by this window");
            if ui.button("Open run").clicked() {
                action = Some(Action::OpenRun(PathBuf::from(self.run_path.trim())));
            }
        });
        action
    }
}

/// The next run's task, preset, policy, config, device and steps; `NewRun` when asked.
fn run_settings(ui: &mut egui::Ui, args: &mut GuiArgs) -> Option<Action> {
    ui.heading("Run")
        .on_hover_text("Train a new run with these settings, or open one written by `dmn train`.");
    egui::ComboBox::from_label("task")
        .selected_text(args.task.name())
        .show_ui(ui, |ui| {
            use clap::ValueEnum;
            for kind in TaskKind::value_variants() {
                if *kind != TaskKind::Text {
                    ui.selectable_value(&mut args.task, *kind, kind.name());
                }
            }
        });
    choice(ui, "preset", &mut args.preset, &["tiny", "small", "paper"]);
    choice(
        ui,
        "policy",
        &mut args.policy,
        &["importance", "lru", "ppo", "dqn"],
    )
    .on_hover_text(
        "Which working-memory slots move to long-term memory: the importance head \
         (learned through the task loss), the least-used slots, or a policy learned by \
         PPO or Q-learning",
    );
    let mut config = args
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    ui.horizontal(|ui| {
        ui.add(egui::TextEdit::singleline(&mut config).desired_width(150.0).hint_text("config.json"))
            .on_hover_text("A model config JSON (as written in a run's config.json \"model\" part); overrides the preset");
        ui.label("config");
    });
    args.config = (!config.trim().is_empty()).then(|| PathBuf::from(config.trim()));
    let devices: &[&str] = if cfg!(feature = "wgpu") {
        &["cpu", "wgpu"]
    } else {
        &["cpu"]
    };
    choice(ui, "device", &mut args.device, devices);
    ui.add(
        egui::Slider::new(&mut args.steps, 1..=20_000)
            .logarithmic(true)
            .text("steps"),
    );
    ui.button("New run")
        .on_hover_text("Start a fresh run (a new directory under runs/) with these settings")
        .clicked()
        .then_some(Action::NewRun)
}

/// A drop-down choice of one of `options` for `value`.
fn choice(ui: &mut egui::Ui, label: &str, value: &mut String, options: &[&str]) -> egui::Response {
    egui::ComboBox::from_label(label)
        .selected_text(value.clone())
        .show_ui(ui, |ui| {
            for &option in options {
                ui.selectable_value(value, option.to_string(), option);
            }
        })
        .response
}

/// Run, pause, one step, evaluate, and the progress bar.
fn training(ui: &mut egui::Ui, progress: Progress) -> Option<Action> {
    let mut command = None;
    ui.heading("Training");
    ui.horizontal(|ui| {
        if progress.running {
            if ui.button("Pause").clicked() {
                command = Some(Command::Pause);
            }
        } else if ui.button("Run").clicked() {
            command = Some(Command::Run);
        }
        if ui
            .add_enabled(!progress.running, egui::Button::new("Step"))
            .clicked()
        {
            command = Some(Command::Step);
        }
        if ui
            .button("Evaluate")
            .on_hover_text("Accuracy at 1×, 4×, 16× and 64× the trained length")
            .clicked()
        {
            let base = progress.length.map_or(64, |l| l.max(1));
            command = Some(Command::Evaluate(
                EVAL_MULTIPLES.iter().map(|m| m * base).collect(),
            ));
        }
    });
    let done = if progress.total > 0 {
        progress.step as f32 / progress.total as f32
    } else {
        0.0
    };
    ui.add(
        egui::ProgressBar::new(done).text(format!("step {} / {}", progress.step, progress.total)),
    );
    command.map(Action::Send)
}
