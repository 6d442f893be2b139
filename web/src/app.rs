//! [`WebApp`]: the browser window — the desktop trainer's panels around two modes, training
//! from scratch and asking the shipped model.

use dmn_app::gui::history::History;
use dmn_app::gui::panels::{self, Panel};
use eframe::egui;
use wasm_bindgen_futures::spawn_local;

use crate::asking;
use crate::backend::Backend;
use crate::demo::{DemoTask, Question};
use crate::live::{Live, Shared};
use crate::page;
use crate::params::{Params, parse_values};
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
    /// The copy values as typed.
    values_text: String,
    /// What to start once the first frame is on screen (the first training step compiles every
    /// kernel, which blocks the page for seconds on a software adapter).
    start: Option<Mode>,
    /// Evaluate the shipped model once it is loaded (`?evaluate=1`).
    evaluate_on_load: bool,
    /// A timeline to fetch once the window is up (`?timeline=URL`).
    timeline: Option<String>,
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
        let values = params
            .values
            .unwrap_or_else(|| vec![3, 1, 4, 1, 5, 9, 2, 6]);
        let question = Question {
            task: params.task,
            value: params.value.unwrap_or(5),
            distance: params.distance.unwrap_or(match params.task {
                DemoTask::Needle => 200,
                DemoTask::Copy => 128,
            }),
            seed: params.seed.unwrap_or(0),
            values,
        };
        let app = Self {
            live: Live::shared(),
            panels: panels::all(),
            mode: if params.demo { Mode::Demo } else { Mode::Train },
            settings,
            values_text: question
                .values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            question,
            start: Some(if params.demo { Mode::Demo } else { Mode::Train }),
            evaluate_on_load: params.evaluate,
            timeline: params.timeline,
            drew_first_frame: false,
        };
        {
            let mut l = app.live.borrow_mut();
            l.set_backend(backend);
            l.weights = params.weights.map(|url| (params.task, url));
            l.state = params.state.map(|url| (params.task, url));
            l.status = "compiling the kernels (the first step takes longest)…".into();
        }
        app
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let before = self.mode;
        ui.radio_value(&mut self.mode, Mode::Train, "Train from scratch")
            .on_hover_text("A tiny model learns needle retrieval here, in this tab.");
        ui.radio_value(&mut self.mode, Mode::Demo, "Ask a pretrained model")
            .on_hover_text(
                "Tiny models trained by `dmn train` (web/assets/): hide a value and see whether \
                 it is recalled, or type values and see whether they are copied.",
            );
        if self.mode != before {
            match self.mode {
                Mode::Train => training::start(&self.live, &ctx, self.settings),
                Mode::Demo => asking::open(&self.live, &ctx, self.question.task, None, false),
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
                training::start(&self.live, ctx, self.settings);
            }
            let paused = self.live.borrow().paused;
            if ui.button(if paused { "Run" } else { "Pause" }).clicked() {
                self.live.borrow_mut().paused = !paused;
            }
        });
        ui.weak("Needle retrieval, tiny preset: the value after KEY must be recalled at QUERY.");
    }

    fn demo_controls(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        let task = self.question.task;
        ui.horizontal(|ui| {
            for t in DemoTask::ALL {
                ui.selectable_value(&mut self.question.task, t, t.name());
            }
        });
        if self.question.task != task {
            self.question.distance = match self.question.task {
                DemoTask::Needle => 200,
                DemoTask::Copy => 128,
            };
            asking::open(&self.live, ctx, self.question.task, None, false);
        }
        let task = self.question.task;
        let (busy, loaded) = {
            let l = self.live.borrow();
            (l.busy, l.demo(task))
        };
        let values = loaded
            .as_ref()
            .map_or(training::VALUES, |d| d.config.train.task.values);
        let mut typed = Ok(());
        egui::Grid::new("question").show(ui, |ui| {
            match task {
                DemoTask::Needle => {
                    ui.label("hidden value");
                    ui.add(egui::Slider::new(&mut self.question.value, 0..=values - 1));
                }
                DemoTask::Copy => {
                    ui.label("values to copy");
                    ui.add(egui::TextEdit::singleline(&mut self.values_text).desired_width(140.0))
                        .on_hover_text(format!(
                            "Whole numbers from 0 to {}, in order.",
                            values - 1
                        ));
                    typed = parse_values(&self.values_text).and_then(|v| {
                        match v.iter().find(|&&x| x >= values) {
                            Some(bad) => {
                                Err(format!("{bad} is not below {values}, the number of values"))
                            }
                            None if v.is_empty() => Err("type at least one value".into()),
                            None => {
                                self.question.values = v;
                                Ok(())
                            }
                        }
                    });
                }
            }
            ui.end_row();
            ui.label(match task {
                DemoTask::Needle => "distance",
                DemoTask::Copy => "region length",
            });
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
        if let Err(e) = &typed {
            ui.colored_label(egui::Color32::from_rgb(230, 80, 80), e);
        }
        let ask = ui.add_enabled(
            !busy && loaded.is_some() && typed.is_ok(),
            egui::Button::new("Ask"),
        );
        if ask.clicked()
            && let Some(demo) = loaded.clone()
        {
            self.live.borrow_mut().busy = true;
            spawn_local(asking::ask(
                self.live.clone(),
                ctx.clone(),
                demo,
                self.question.clone(),
            ));
        }
        let evaluate = ui
            .add_enabled(!busy && loaded.is_some(), egui::Button::new("Evaluate"))
            .on_hover_text(format!(
                "Accuracy at distances {:?}, {} held-out sequences each, for the accuracy \
                 against distance panel.",
                task.eval_distances(),
                asking::EVAL_SAMPLES
            ));
        if evaluate.clicked()
            && let Some(demo) = loaded
        {
            self.live.borrow_mut().busy = true;
            spawn_local(asking::evaluate(self.live.clone(), ctx.clone(), demo));
        }
        if busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("working…");
            });
        }
        if let Some(a) = &self.live.borrow().answer {
            let shown = |v: &Option<usize>| v.map_or("–".to_string(), |v| v.to_string());
            let text = match (a.asked.as_slice(), a.recalled.as_slice()) {
                ([asked], [Some(v)]) if v == asked => format!("recalled {v}: right"),
                ([asked], [Some(v)]) => format!("recalled {v}: wrong (hidden {asked})"),
                ([_], _) => "recalled no value".to_string(),
                _ => format!(
                    "copied {}: {} of {} right",
                    a.recalled.iter().map(shown).collect::<Vec<_>>().join(" "),
                    a.correct(),
                    a.asked.len()
                ),
            };
            ui.strong(text);
            ui.weak(format!("distance {}", a.distance));
        }
        ui.weak(
            "The panels show what the memory did on this input, segment by segment: which \
             slots took the values, when they moved to long-term memory, where the queries \
             looked.",
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
        if let Some(url) = self.timeline.take() {
            let (live, ctx) = (self.live.clone(), ui.ctx().clone());
            spawn_local(async move { open_timeline(&live, &ctx, &url).await });
        }
        if let Some(mode) = self.start.take() {
            let (live, ctx) = (self.live.clone(), ui.ctx().clone());
            let (settings, question) = (self.settings, self.question.clone());
            let evaluate = self.evaluate_on_load;
            spawn_local(async move {
                // Let this frame reach the screen first.
                page::sleep(50).await;
                match mode {
                    Mode::Train => training::start(&live, &ctx, settings),
                    Mode::Demo => {
                        asking::open(&live, &ctx, question.task, Some(question), evaluate)
                    }
                }
            });
        }
    }
}

/// Fetches the timeline at `url` into the timeline panel; records its size on the page
/// (`data-dmn-timeline-tokens`, `data-dmn-timeline-answers`) or the error.
async fn open_timeline(live: &Shared, ctx: &egui::Context, url: &str) {
    let opened = page::fetch_bytes(url)
        .await
        .and_then(|bytes| History::parse_timeline(&bytes, url).map_err(|e| format!("{e:#}")));
    match opened {
        Ok(timeline) => {
            page::record("timeline-tokens", &timeline.tokens.to_string());
            page::record("timeline-answers", &timeline.answers.len().to_string());
            live.borrow_mut().history.set_timeline(timeline);
        }
        Err(e) => live
            .borrow_mut()
            .set_error(format!("cannot open the timeline {url}: {e}")),
    }
    ctx.request_repaint();
}
