//! The trainer window: controls on the left, the panels in the middle, status on top.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::tensor::Device;
use eframe::egui;

use super::history::History;
use super::panels::{self, Panel};
use super::worker::{Command, Event, Worker};
use super::{GuiArgs, new_run_path};
use crate::checkpoint;
use crate::commands::{devices, train};
use crate::run_dir::RunDir;
use crate::session::Session;
use crate::task_spec::TaskKind;

/// Distances of the accuracy-by-distance evaluation, as multiples of the trained length.
const EVAL_MULTIPLES: [usize; 4] = [1, 4, 16, 64];

/// What the window measured, printed when it closes.
#[derive(Debug, Default)]
struct Summary {
    frames: u64,
    seconds: f64,
    steps: u64,
    tokens_per_s: f64,
    screenshot: Option<PathBuf>,
    error: Option<String>,
}

/// How far the `--exit-after-steps` sequence has got.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Exit {
    Training,
    Shooting(f64),
    Closing,
}

struct TrainerApp {
    args: GuiArgs,
    shared: Option<Device>,
    worker: Option<Worker>,
    history: History,
    panels: Vec<Box<dyn Panel>>,
    run: Option<PathBuf>,
    step: u64,
    total: u64,
    running: bool,
    status: String,
    checkpoint_path: String,
    run_path: String,
    dark: bool,
    exit: Exit,
    shot: Arc<Mutex<Option<Arc<egui::ColorImage>>>>,
    summary: Arc<Mutex<Summary>>,
    // Frame rate over the last second, and totals while training.
    frame_times: Vec<f64>,
    training_since: Option<(Instant, u64)>,
}

impl TrainerApp {
    fn devices_for(&self, name: &str) -> Result<Vec<Device>> {
        match (&self.shared, name) {
            (Some(d), "wgpu") => Ok(vec![d.clone()]),
            _ => devices(name),
        }
    }

    /// Starts training a fresh run with the settings in the controls.
    fn new_run(&mut self, ctx: &egui::Context) {
        let args = self
            .args
            .train_args(new_run_path(self.args.task, &self.args.preset));
        let devices = self.devices_for(&args.device);
        self.history = History {
            trace_generation: self.history.trace_generation + 1,
            ..History::default()
        };
        self.spawn(ctx, move || {
            let (run, config) = train::new_run(&args)?;
            Session::start_on(run, config, false, devices?)
        });
    }

    /// Opens a run directory: its metrics are replayed and training continues from its newest
    /// checkpoint.
    fn open_run(&mut self, ctx: &egui::Context, path: PathBuf) {
        let steps = self.args.steps;
        let opened = RunDir::open(&path).and_then(|run| {
            let mut config = run.read_config()?;
            if steps > config.train.steps {
                config.train.steps = steps;
                run.write_config(&config)?;
            }
            let resume = checkpoint::latest(&run.checkpoints())?.is_some();
            let devices = self.devices_for(&config.train.device)?;
            Ok((run, config, resume, devices))
        });
        match (opened, History::replay(&path)) {
            (Ok((run, config, resume, devices)), Ok(history)) => {
                self.history = History {
                    trace_generation: self.history.trace_generation + 1,
                    ..history
                };
                self.spawn(ctx, move || Session::start_on(run, config, resume, devices));
            }
            (Err(e), _) | (_, Err(e)) => self.status = format!("cannot open the run: {e:#}"),
        }
    }

    fn spawn(
        &mut self,
        ctx: &egui::Context,
        open: impl FnOnce() -> Result<Session> + Send + 'static,
    ) {
        self.worker = None; // stops the previous thread first
        let wake = ctx.clone();
        self.worker = Some(Worker::spawn(
            open,
            true,
            self.args.exit_after_steps,
            move || wake.request_repaint(),
        ));
        self.running = true;
        self.status = "starting…".into();
    }

    fn send(&self, command: Command) {
        if let Some(w) = &self.worker {
            w.send(command);
        }
    }

    fn drain_events(&mut self) {
        let Some(worker) = &self.worker else { return };
        while let Ok(event) = worker.events.try_recv() {
            match event {
                Event::Ready { run, step, total } => {
                    self.status = format!("training {}", run.display());
                    self.run = Some(run);
                    self.step = step;
                    self.total = total;
                }
                Event::Step(point) => {
                    self.step = point.step;
                    let started = self
                        .training_since
                        .get_or_insert((Instant::now(), point.tokens));
                    let seconds = started.0.elapsed().as_secs_f64();
                    if let Ok(mut s) = self.summary.lock() {
                        s.steps = point.step;
                        if seconds > 0.0 {
                            s.tokens_per_s = (point.tokens - started.1) as f64 / seconds;
                        }
                    }
                    self.history.points.push(point);
                }
                Event::Trace { step, traces } => self.history.set_traces(step, traces),
                Event::Evaluated(points) => {
                    self.status = format!("evaluated at {} distances", points.len());
                    self.history.by_distance = points;
                }
                Event::Checkpoint { path, step } => {
                    self.step = step;
                    self.status = format!("checkpoint {} (step {step})", path.display());
                }
                Event::Paused => {
                    self.running = false;
                    self.status = format!("paused at step {}", self.step);
                }
                Event::Error(e) => {
                    self.running = false;
                    self.status = format!("error: {e}");
                    if let Ok(mut s) = self.summary.lock() {
                        s.error = Some(e);
                    }
                }
            }
        }
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        ui.heading("Run").on_hover_text(
            "Train a new run with these settings, or open one written by `dmn train`.",
        );
        egui::ComboBox::from_label("task")
            .selected_text(self.args.task.name())
            .show_ui(ui, |ui| {
                use clap::ValueEnum;
                for kind in TaskKind::value_variants() {
                    if *kind != TaskKind::Text {
                        ui.selectable_value(&mut self.args.task, *kind, kind.name());
                    }
                }
            });
        egui::ComboBox::from_label("preset")
            .selected_text(self.args.preset.clone())
            .show_ui(ui, |ui| {
                for p in ["tiny", "small", "paper"] {
                    ui.selectable_value(&mut self.args.preset, p.to_string(), p);
                }
            });
        egui::ComboBox::from_label("policy")
            .selected_text(self.args.policy.clone())
            .show_ui(ui, |ui| {
                for p in ["importance", "lru", "ppo", "dqn"] {
                    ui.selectable_value(&mut self.args.policy, p.to_string(), p);
                }
            })
            .response
            .on_hover_text(
                "Which working-memory slots move to long-term memory: the importance head \
                 (learned through the task loss), the least-used slots, or a policy learned by \
                 PPO or Q-learning",
            );
        let mut config = self
            .args
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        ui.horizontal(|ui| {
            ui.add(egui::TextEdit::singleline(&mut config).desired_width(150.0).hint_text("config.json"))
                .on_hover_text("A model config JSON (as written in a run's config.json \"model\" part); overrides the preset");
            ui.label("config");
        });
        self.args.config = (!config.trim().is_empty()).then(|| PathBuf::from(config.trim()));
        egui::ComboBox::from_label("device")
            .selected_text(self.args.device.clone())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.args.device, "cpu".to_string(), "cpu");
                if cfg!(feature = "wgpu") {
                    ui.selectable_value(&mut self.args.device, "wgpu".to_string(), "wgpu");
                }
            });
        ui.add(
            egui::Slider::new(&mut self.args.steps, 1..=20_000)
                .logarithmic(true)
                .text("steps"),
        );
        if ui
            .button("New run")
            .on_hover_text("Start a fresh run (a new directory under runs/) with these settings")
            .clicked()
        {
            let ctx = ui.ctx().clone();
            self.new_run(&ctx);
        }
        ui.separator();
        ui.heading("Training");
        ui.horizontal(|ui| {
            if self.running {
                if ui.button("Pause").clicked() {
                    self.send(Command::Pause);
                }
            } else if ui.button("Run").clicked() {
                self.running = true;
                self.send(Command::Run);
            }
            if ui
                .add_enabled(!self.running, egui::Button::new("Step"))
                .clicked()
            {
                self.send(Command::Step);
            }
            if ui
                .button("Evaluate")
                .on_hover_text("Accuracy at 1×, 4×, 16× and 64× the trained length")
                .clicked()
            {
                let base = self.history.points.last().map_or(64, |p| p.length.max(1));
                self.send(Command::Evaluate(
                    EVAL_MULTIPLES.iter().map(|m| m * base).collect(),
                ));
            }
        });
        ui.add(
            egui::ProgressBar::new(if self.total > 0 {
                self.step as f32 / self.total as f32
            } else {
                0.0
            })
            .text(format!("step {} / {}", self.step, self.total)),
        );
        ui.separator();
        ui.heading("Checkpoints");
        if ui.button("Save checkpoint").clicked() {
            self.send(Command::Save);
        }
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut self.checkpoint_path)
                .on_hover_text("A checkpoint directory, e.g. runs/x/checkpoints/step-00000100");
            if ui.button("Load").clicked() {
                self.send(Command::Load(PathBuf::from(self.checkpoint_path.trim())));
            }
        });
        ui.horizontal(|ui| {
            ui.text_edit_singleline(&mut self.run_path)
                .on_hover_text("A run directory written by `dmn train` or by this window");
            if ui.button("Open run").clicked() {
                let ctx = ui.ctx().clone();
                self.open_run(&ctx, PathBuf::from(self.run_path.trim()));
            }
        });
    }

    fn fps(&self) -> f64 {
        match (self.frame_times.first(), self.frame_times.last()) {
            (Some(a), Some(b)) if b > a => (self.frame_times.len() - 1) as f64 / (b - a),
            _ => 0.0,
        }
    }

    /// The `--exit-after-steps` sequence: once the step is reached and its trace drawn, take
    /// the screenshot (if asked), write it, and close.
    fn exit_sequence(&mut self, ctx: &egui::Context) {
        let Some(n) = self.args.exit_after_steps else {
            return;
        };
        let now = ctx.input(|i| i.time);
        match self.exit {
            Exit::Training
                if !self.running
                    && self.history.trace_step == self.step
                    && (self.step >= n || (self.total > 0 && self.step >= self.total)) =>
            {
                if self.args.screenshot.is_some() {
                    let slot = self.shot.clone();
                    let wake = ctx.clone();
                    ctx.request_screenshot(move |image| {
                        if let Ok(mut s) = slot.lock() {
                            *s = Some(image);
                        }
                        wake.request_repaint();
                    });
                    self.exit = Exit::Shooting(now);
                } else {
                    self.exit = Exit::Closing;
                }
            }
            Exit::Shooting(since) => {
                let image = self.shot.lock().ok().and_then(|mut s| s.take());
                let path = self
                    .args
                    .screenshot
                    .clone()
                    .expect("shooting only with a path");
                if let Some(image) = image {
                    let written = write_png(&image, &path);
                    if let Ok(mut s) = self.summary.lock() {
                        match written {
                            Ok(()) => s.screenshot = Some(path),
                            Err(e) => s.error = Some(format!("{e:#}")),
                        }
                    }
                    self.exit = Exit::Closing;
                } else if now - since > 20.0 {
                    if let Ok(mut s) = self.summary.lock() {
                        s.error = Some("the renderer delivered no screenshot within 20 s".into());
                    }
                    self.exit = Exit::Closing;
                }
                ctx.request_repaint();
            }
            _ => {}
        }
        if self.exit == Exit::Closing {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

impl eframe::App for TrainerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.drain_events();
        let now = ctx.input(|i| i.time);
        self.frame_times.push(now);
        self.frame_times.retain(|t| now - t <= 1.0);
        if let Ok(mut s) = self.summary.lock()
            && self.training_since.is_some()
            && self.running
        {
            s.frames += 1;
            s.seconds = self
                .training_since
                .map_or(0.0, |t| t.0.elapsed().as_secs_f64());
        }

        egui::Panel::top("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.strong("DMN trainer");
                ui.separator();
                let tps = self.history.points.last().map_or(0.0, |p| p.tokens_per_s);
                ui.label(format!(
                    "step {}  ·  {:.0} tokens/s  ·  {:.0} fps",
                    self.step,
                    tps,
                    self.fps()
                ));
                ui.separator();
                ui.label(&self.status);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.selectable_label(!self.dark, "light").clicked() {
                        self.dark = false;
                        ctx.set_theme(egui::Theme::Light);
                    }
                    if ui.selectable_label(self.dark, "dark").clicked() {
                        self.dark = true;
                        ctx.set_theme(egui::Theme::Dark);
                    }
                });
            });
        });
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            panels::show_columns(&mut self.panels, ui, &self.history);
        });

        self.exit_sequence(&ctx);
        if self.running {
            // Redraw at up to --fps while training (events wake the window otherwise): enough
            // for live curves, and every frame not drawn is CPU time left to training.
            let frame = std::time::Duration::from_secs_f64(1.0 / self.args.fps as f64);
            ctx.request_repaint_after(frame);
        }
    }
}

/// Writes an RGBA PNG, atomically (temporary file, then rename).
fn write_png(image: &egui::ColorImage, path: &std::path::Path) -> Result<()> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .context("the screenshot has an inconsistent size")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("png.tmp");
    buffer
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Burn's wgpu device, and the same device for the window's renderer.
#[cfg(feature = "wgpu")]
fn shared_wgpu() -> Result<(Device, eframe::egui_wgpu::WgpuSetup)> {
    let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| {
        anyhow!("no usable wgpu adapter ({e:?}); install a Vulkan, Metal or DX12 driver, or use --device cpu")
    })?;
    let existing = eframe::egui_wgpu::WgpuSetupExisting {
        instance: setup.instance,
        adapter: setup.adapter,
        device: setup.device,
        queue: setup.queue,
    };
    Ok((device, existing.into()))
}

/// Opens the window and blocks until it closes; prints what it measured.
pub fn run_window(args: GuiArgs) -> Result<()> {
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("DMN trainer")
            .with_inner_size([1280.0, 800.0]),
        ..Default::default()
    };
    let mut shared = None;
    #[cfg(feature = "wgpu")]
    if args.device == "wgpu" {
        let (device, setup) = shared_wgpu()?;
        options.wgpu_options.wgpu_setup = setup;
        shared = Some(device);
    }
    let summary = Arc::new(Mutex::new(Summary::default()));
    let app_summary = summary.clone();
    eframe::run_native(
        "dmn",
        options,
        Box::new(move |cc| {
            let dark = !args.light;
            cc.egui_ctx.set_theme(if dark {
                egui::Theme::Dark
            } else {
                egui::Theme::Light
            });
            let mut app = TrainerApp {
                run_path: args
                    .run
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                args: args.clone(),
                shared,
                worker: None,
                history: History::default(),
                panels: panels::all(),
                run: None,
                step: 0,
                total: 0,
                running: false,
                status: String::new(),
                checkpoint_path: String::new(),
                dark,
                exit: Exit::Training,
                shot: Arc::new(Mutex::new(None)),
                summary: app_summary,
                frame_times: Vec::new(),
                training_since: None,
            };
            match &args.run {
                Some(path) => app.open_run(&cc.egui_ctx, path.clone()),
                None => app.new_run(&cc.egui_ctx),
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))?;

    let s = summary
        .lock()
        .map_err(|_| anyhow!("the window thread panicked"))?;
    let fps = if s.seconds > 0.0 {
        s.frames as f64 / s.seconds
    } else {
        0.0
    };
    println!(
        "{}",
        serde_json::json!({
            "steps": s.steps,
            "ui_fps_while_training": fps,
            "training_tokens_per_s": s.tokens_per_s,
            "screenshot": s.screenshot,
        })
    );
    if let Some(e) = &s.error {
        bail!("{e}");
    }
    Ok(())
}
