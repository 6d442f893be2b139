//! [`Live`]: what the running tasks (training, the demo's answers) share with the window, and
//! what the page records about it on `<body>`. The browser runs one thread: tasks and frames
//! take turns, so a `RefCell` suffices.

use std::cell::RefCell;
use std::rc::Rc;

use dmn_app::gui::history::{History, Point};

use crate::backend::Backend;
use crate::demo::{Answer, Demo, DemoTask};
use crate::page;

/// The state shared by the window and the tasks.
pub type Shared = Rc<RefCell<Live>>;

/// Values as the page records them: comma-separated, -1 for "no value".
fn joined(values: impl Iterator<Item = i64>) -> String {
    values.map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

/// Everything the window draws besides its own widgets.
#[derive(Default)]
pub struct Live {
    /// What the panels read.
    pub history: History,
    /// The device, once chosen.
    pub backend: Option<Backend>,
    /// One line of status.
    pub status: String,
    /// The last error, shown until the next success.
    pub error: Option<String>,
    /// Training is paused.
    pub paused: bool,
    /// A task is running whose result the window waits for (loading, answering).
    pub busy: bool,
    /// Bumped to stop the current training loop (a new run, or a switch to the demo).
    pub generation: u64,
    /// Training runs started in this page, restarts after a lost device included
    /// (`data-dmn-run`).
    pub runs: u64,
    /// The demo's last answer.
    pub answer: Option<Answer>,
    /// The shipped models loaded so far.
    pub demos: Vec<Rc<Demo>>,
    /// The demo task whose model loads from other weights than its run's checkpoint, and the
    /// URL of those weights (`?weights=URL`).
    pub weights: Option<(DemoTask, String)>,
    /// The demo task whose questions start from a memory snapshot, and its URL (`?state=URL`).
    pub state: Option<(DemoTask, String)>,
}

impl Live {
    /// Shares a fresh state.
    pub fn shared() -> Shared {
        Rc::new(RefCell::new(Self::default()))
    }

    /// Uses `backend` from now on; says so on the page.
    pub fn set_backend(&mut self, backend: Backend) {
        page::record("backend", backend.name);
        page::message(backend.note.as_deref().unwrap_or(""));
        self.backend = Some(backend);
    }

    /// Records a finished training step.
    pub fn record_step(&mut self, point: Point) {
        page::record("step", &point.step.to_string());
        page::record("loss", &point.loss.to_string());
        self.history.points.push(point);
        self.error = None;
        page::record("error", "");
    }

    /// Shows an error in the window and on the page.
    pub fn set_error(&mut self, text: String) {
        page::fail(&text);
        self.error = Some(text);
        self.busy = false;
    }

    /// The shipped model of `task`, if loaded.
    pub fn demo(&self, task: DemoTask) -> Option<Rc<Demo>> {
        self.demos.iter().find(|d| d.task == task).cloned()
    }

    /// The URL of the weights `task`'s model loads from, if not its run's checkpoint.
    pub fn weights_for(&self, task: DemoTask) -> Option<String> {
        self.weights
            .as_ref()
            .filter(|(t, _)| *t == task)
            .map(|(_, url)| url.clone())
    }

    /// The URL of the memory snapshot `task`'s questions start from, if any.
    pub fn state_for(&self, task: DemoTask) -> Option<String> {
        self.state
            .as_ref()
            .filter(|(t, _)| *t == task)
            .map(|(_, url)| url.clone())
    }

    /// Records the demo's answer.
    pub fn set_answer(&mut self, answer: Answer) {
        let recalled = answer.recalled.iter().map(|r| r.map_or(-1, |v| v as i64));
        page::record("answer", &joined(recalled));
        page::record(
            "answer-value",
            &joined(answer.asked.iter().map(|&v| v as i64)),
        );
        page::record("answer-distance", &answer.distance.to_string());
        self.answer = Some(answer);
        self.busy = false;
    }
}
