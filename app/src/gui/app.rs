//! The trainer window: controls on the left ([`Controls`]), the panels in the middle, status on
//! top. Each frame takes the training thread's events, draws, acts on what was clicked and
//! advances the `--exit-after-steps` sequence ([`Exit`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use burn::tensor::Device;
use eframe::egui;

use super::controls::{Action, Controls, Progress};
use super::exit::{Exit, Summary};
use super::history::History;
use super::panels::{self, Panel};
use super::worker::{Command, Event, Worker};
use super::{GuiArgs, new_run_path};
use crate::checkpoint;
use crate::commands::{devices, train};
use crate::run_dir::RunDir;
use crate::session::Session;

struct TrainerApp {
    args: GuiArgs,
    shared: Option<Device>,
    worker: Option<Worker>,
    history: History,
    panels: Vec<Box<dyn Panel>>,
    controls: Controls,
    run: Option<PathBuf>,
    step: u64,
    total: u64,
    running: bool,
    status: String,
    dark: bool,
    exit: Exit,
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
            ..self.history.keeping_timeline()
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
                let kept = self.history.keeping_timeline();
                self.history = History {
                    trace_generation: self.history.trace_generation + 1,
                    timeline: kept.timeline,
                    timeline_generation: kept.timeline_generation,
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

    /// Step `step` is done, `tokens` trained by then: the summary's steps and throughput.
    fn count_step(&mut self, step: u64, tokens: u64) {
        self.step = step;
        let started = self.training_since.get_or_insert((Instant::now(), tokens));
        let seconds = started.0.elapsed().as_secs_f64();
        if let Ok(mut s) = self.summary.lock() {
            s.steps = step;
            if seconds > 0.0 {
                s.tokens_per_s = (tokens - started.1) as f64 / seconds;
            }
        }
    }

    fn drain_events(&mut self) {
        let Some(worker) = &self.worker else { return };
        let events: Vec<Event> = worker.events.try_iter().collect();
        for event in events {
            match event {
                Event::Ready { run, step, total } => {
                    self.status = format!("training {}", run.display());
                    self.run = Some(run);
                    self.step = step;
                    self.total = total;
                }
                Event::Step(point) => {
                    self.count_step(point.step, point.tokens);
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
                Event::Queued { step, tokens } => self.count_step(step, tokens),
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

    /// Does what was clicked in the controls.
    fn act(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::NewRun => self.new_run(ctx),
            Action::OpenRun(path) => self.open_run(ctx, path),
            Action::Send(command) => {
                if matches!(command, Command::Run) {
                    self.running = true;
                }
                self.send(command);
            }
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            running: self.running,
            step: self.step,
            total: self.total,
            length: self.history.points.last().map(|p| p.length),
        }
    }

    /// Counts the frame: the frame rate over the last second, and the summary's totals while
    /// training.
    fn count_frame(&mut self, now: f64) {
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
    }

    fn fps(&self) -> f64 {
        match (self.frame_times.first(), self.frame_times.last()) {
            (Some(a), Some(b)) if b > a => (self.frame_times.len() - 1) as f64 / (b - a),
            _ => 0.0,
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
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
                    ui.ctx().set_theme(egui::Theme::Light);
                }
                if ui.selectable_label(self.dark, "dark").clicked() {
                    self.dark = true;
                    ui.ctx().set_theme(egui::Theme::Dark);
                }
            });
        });
    }
}

impl eframe::App for TrainerApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.drain_events();
        self.count_frame(ctx.input(|i| i.time));

        egui::Panel::top("status").show(ui, |ui| self.status_bar(ui));
        let progress = self.progress();
        let action = egui::Panel::left("controls")
            .resizable(true)
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .show(ui, |ui| self.controls.ui(ui, &mut self.args, progress))
                    .inner
            })
            .inner;
        if let Some(action) = action {
            self.act(&ctx, action);
        }
        egui::CentralPanel::default().show(ui, |ui| {
            panels::show_columns(&mut self.panels, ui, &self.history);
        });

        let settled = !self.running && self.history.trace_step == self.step;
        self.exit
            .frame(&ctx, (self.step, self.total), settled, &self.summary);
        if self.running {
            // Redraw at up to --fps while training (events wake the window otherwise): enough
            // for live curves, and every frame not drawn is CPU time left to training.
            let frame = std::time::Duration::from_secs_f64(1.0 / self.args.fps as f64);
            ctx.request_repaint_after(frame);
        }
    }
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
    // Read before the window opens: a bad file is an error on the terminal, not a blank panel.
    let timeline = match &args.timeline {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --timeline {}", path.display()))?;
            Some(History::parse_timeline(
                &bytes,
                &path.display().to_string(),
            )?)
        }
        None => None,
    };
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
            let controls = Controls {
                run_path: args
                    .run
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ..Controls::default()
            };
            let mut app = TrainerApp {
                exit: Exit::new(args.exit_after_steps, args.screenshot.clone()),
                args: args.clone(),
                shared,
                worker: None,
                history: History::default(),
                panels: panels::all(),
                controls,
                run: None,
                step: 0,
                total: 0,
                running: false,
                status: String::new(),
                dark,
                summary: app_summary,
                frame_times: Vec::new(),
                training_since: None,
            };
            if let Some(timeline) = timeline {
                app.history.set_timeline(timeline);
            }
            match &args.run {
                Some(path) => app.open_run(&cc.egui_ctx, path.clone()),
                None => app.new_run(&cc.egui_ctx),
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow!("cannot open the window: {e}"))?;

    summary
        .lock()
        .map_err(|_| anyhow!("the window thread panicked"))?
        .report()
}
