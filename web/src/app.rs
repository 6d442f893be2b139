//! [`WebApp`]: the browser window — the desktop trainer's panels around two modes, training
//! from scratch and asking the shipped model.

use dmn_app::gui::panels::{self, Panel};
use eframe::egui;
use wasm_bindgen_futures::spawn_local;

use crate::backend::Backend;
use crate::demo::{self, Question};
use crate::live::{Live, Shared};
use crate::page::{self, Params};
use crate::training::{self, Settings};

/// What the window is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Training a tiny model from scratch.
    Train,
    /// Asking the shipped model.
    Demo,
}

/// The eframe app.
pub struct WebApp {
    live: Shared,
    panels: Vec<Box<dyn Panel>>,
    mode: Mode,
    settings: Settings,
    question: Question,
    /// What to start once the first frame is on screen (the first training step compiles every
    /// kernel, which blocks the page for seconds on a software adapter).
    start: Option<Mode>,
    /// Evaluate the shipped model once it is loaded (`?evaluate=1`).
    evaluate_on_load: bool,
    drew_first_frame: bool,
}

impl WebApp {
    /// Starts what the URL asks for (training by default) on `backend`.
    pub fn new(cc: &eframe::CreationContext<'_>, params: Params, backend: Backend) -> Self {
        cc.egui_ctx.set_theme(egui::Theme::Dark);
        let settings = Settings {
            distance: params.distance.unwrap_or(Settings::default().distance),
            seed: params.seed.unwrap_or(0),
            ..Settings::default()
        };
        let question = Question {
            value: params.value.unwrap_or(5),
            distance: params.distance.unwrap_or(200),
            seed: params.seed.unwrap_or(0),
        };
        let app = Self {
            live: Live::shared(),
            panels: panels::all(),
            mode: if params.demo { Mode::Demo } else { Mode::Train },
            settings,
            question,
            start: Some(if params.demo { Mode::Demo } else { Mode::Train }),
            evaluate_on_load: params.evaluate,
            drew_first_frame: false,
        };
        {
            let mut l = app.live.borrow_mut();
            l.set_backend(backend);
            l.status = "compiling the kernels (the first step takes longest)…".into();
        }
        app
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let before = self.mode;
        ui.radio_value(&mut self.mode, Mode::Train, "Train from scratch")
            .on_hover_text("A tiny model learns needle retrieval here, in this tab.");
        ui.radio_value(&mut self.mode, Mode::Demo, "Ask the pretrained model")
            .on_hover_text(
                "A tiny needle model trained by `dmn train` (web/assets/needle-tiny): hide a \
                 value, choose how far back, and see whether it recalls it.",
            );
        if self.mode != before {
            match self.mode {
                Mode::Train => start_training(&self.live, &ctx, self.settings),
                Mode::Demo => open_demo(&self.live, &ctx, None, false),
            }
        }
        ui.separator();
        match self.mode {
            Mode::Train => self.train_controls(ui, &ctx),
            Mode::Demo => self.demo_controls(ui, &ctx),
        }
    }

    fn train_controls(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        egui::Grid::new("train-settings").show(ui, |ui| {
            ui.label("distance");
            ui.add(egui::DragValue::new(&mut self.settings.distance).range(1..=4096));
            ui.end_row();
            ui.label("batch");
            ui.add(egui::DragValue::new(&mut self.settings.batch).range(1..=64));
            ui.end_row();
            ui.label("seed");
            ui.add(egui::DragValue::new(&mut self.settings.seed));
            ui.end_row();
        });
        ui.horizontal(|ui| {
            if ui.button("New run").clicked() {
                start_training(&self.live, ctx, self.settings);
            }
            let paused = self.live.borrow().paused;
            if ui.button(if paused { "Run" } else { "Pause" }).clicked() {
                self.live.borrow_mut().paused = !paused;
            }
        });
        ui.weak("Needle retrieval, tiny preset: the value after KEY must be recalled at QUERY.");
    }

    fn demo_controls(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let values = self
            .live
            .borrow()
            .demo
            .as_ref()
            .map_or(training::VALUES, |d| d.config.train.task.values);
        egui::Grid::new("question").show(ui, |ui| {
            ui.label("hidden value");
            ui.add(egui::Slider::new(&mut self.question.value, 0..=values - 1));
            ui.end_row();
            ui.label("distance");
            ui.add(
                egui::DragValue::new(&mut self.question.distance)
                    .range(1..=100_000)
                    .speed(10),
            );
            ui.end_row();
            ui.label("noise seed");
            ui.add(egui::DragValue::new(&mut self.question.seed));
            ui.end_row();
        });
        let (busy, loaded) = {
            let l = self.live.borrow();
            (l.busy, l.demo.clone())
        };
        let ask = ui.add_enabled(!busy && loaded.is_some(), egui::Button::new("Ask"));
        if ask.clicked()
            && let Some(demo) = loaded.clone()
        {
            self.live.borrow_mut().busy = true;
            spawn_local(demo::ask(
                self.live.clone(),
                ctx.clone(),
                demo,
                self.question,
            ));
        }
        let evaluate = ui
            .add_enabled(!busy && loaded.is_some(), egui::Button::new("Evaluate"))
            .on_hover_text(format!(
                "Accuracy at distances {:?}, {} held-out needles each, for the accuracy \
                 against distance panel.",
                demo::EVAL_DISTANCES,
                demo::EVAL_SAMPLES
            ));
        if evaluate.clicked()
            && let Some(demo) = self.live.borrow().demo.clone()
        {
            self.live.borrow_mut().busy = true;
            spawn_local(demo::evaluate(self.live.clone(), ctx.clone(), demo));
        }
        if busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("working…");
            });
        }
        if let Some(a) = &self.live.borrow().answer {
            let text = match a.recalled {
                Some(v) if v == a.value => format!("recalled {v}: right"),
                Some(v) => format!("recalled {v}: wrong (hidden {})", a.value),
                None => "recalled no value".to_string(),
            };
            ui.strong(text);
            ui.weak(format!("distance {}", a.distance));
        }
        ui.weak(
            "The panels show what the memory did on this input, segment by segment: which \
             slots took the value, when it moved to long-term memory, where the query looked.",
        );
    }

    fn top_bar(&self, ui: &mut egui::Ui) {
        let l = self.live.borrow();
        ui.horizontal(|ui| {
            ui.strong("DMN in the browser");
            ui.separator();
            match &l.backend {
                Some(b) if b.name == "webgpu" => {
                    ui.colored_label(egui::Color32::from_rgb(90, 200, 120), "WebGPU");
                }
                Some(_) => {
                    ui.colored_label(egui::Color32::from_rgb(240, 170, 60), "CPU backend");
                }
                None => {}
            }
            ui.separator();
            if let Some(p) = l.history.points.last().filter(|_| self.mode == Mode::Train) {
                ui.label(format!(
                    "step {}  ·  loss {:.3}  ·  accuracy {:.2}  ·  {:.0} tokens/s",
                    p.step, p.loss, p.accuracy, p.tokens_per_s
                ));
                ui.separator();
            }
            ui.label(&l.status);
        });
        if let Some(note) = l.backend.as_ref().and_then(|b| b.note.as_deref()) {
            ui.colored_label(egui::Color32::from_rgb(240, 170, 60), note);
        }
        if let Some(e) = &l.error {
            ui.colored_label(egui::Color32::from_rgb(230, 80, 80), e);
        }
    }
}

/// Stops whatever runs and trains a new model.
fn start_training(live: &Shared, ctx: &egui::Context, settings: Settings) {
    let generation = {
        let mut l = live.borrow_mut();
        l.generation += 1;
        l.paused = false;
        l.busy = false;
        l.generation
    };
    spawn_local(training::run(
        live.clone(),
        ctx.clone(),
        settings,
        generation,
    ));
}

/// Stops training, loads the shipped model (once) and its curves, asks `question` if given,
/// then evaluates if asked to.
fn open_demo(live: &Shared, ctx: &egui::Context, question: Option<Question>, evaluate: bool) {
    {
        let mut l = live.borrow_mut();
        l.generation += 1;
        l.busy = true;
        l.history = Default::default();
        l.status = "loading the pretrained model…".into();
    }
    let (live, ctx) = (live.clone(), ctx.clone());
    spawn_local(async move {
        let loaded = live.borrow().demo.clone();
        let demo = match loaded {
            Some(d) => d,
            None => {
                let Some(device) = live.borrow().backend.as_ref().map(|b| b.device.clone()) else {
                    return;
                };
                match demo::load(device).await {
                    Ok(d) => {
                        let d = std::rc::Rc::new(d);
                        live.borrow_mut().demo = Some(d.clone());
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
        match demo::curves().await {
            Ok(h) => live.borrow_mut().history.points = h.points,
            Err(e) => live.borrow_mut().status = format!("no training curves: {e}"),
        }
        {
            let mut l = live.borrow_mut();
            l.status = "pretrained needle model loaded".into();
            l.busy = false;
        }
        page::record("demo", "loaded");
        ctx.request_repaint();
        if let Some(q) = question {
            live.borrow_mut().busy = true;
            demo::ask(live.clone(), ctx.clone(), demo.clone(), q).await;
        }
        if evaluate {
            live.borrow_mut().busy = true;
            demo::evaluate(live.clone(), ctx.clone(), demo).await;
        }
    });
}

impl eframe::App for WebApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if !self.drew_first_frame {
            self.drew_first_frame = true;
            page::record("first-frame-ms", &format!("{:.0}", page::now_ms()));
        }
        egui::Panel::top("bar").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(250.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.controls(ui));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let live = self.live.borrow();
            panels::show_columns(&mut self.panels, ui, &live.history);
        });
        if let Some(mode) = self.start.take() {
            let (live, ctx) = (self.live.clone(), ui.ctx().clone());
            let (settings, question) = (self.settings, self.question);
            let evaluate = self.evaluate_on_load;
            spawn_local(async move {
                // Let this frame reach the screen first.
                page::sleep(50).await;
                match mode {
                    Mode::Train => start_training(&live, &ctx, settings),
                    Mode::Demo => open_demo(&live, &ctx, Some(question), evaluate),
                }
            });
        }
    }
}
