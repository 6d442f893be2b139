//! The pretrained demo: two runs shipped in `web/assets/` — `needle-tiny` (recall the value
//! hidden after KEY) and `copy-tiny` (copy the values scattered in a region, in order), run
//! directories written by `dmn train` and read here over HTTP with the same decoders as
//! natively — answer inputs the user edits. `dmn probe --run web/assets/…` answers the same
//! inputs natively. [`crate::asking`] runs the questions from the window.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use dmn::probe::probe_from;
use dmn::{Dmn, DmnState};
use dmn_app::checkpoint::model_from_bytes;
use dmn_app::gui::history::History;
use dmn_app::run_dir::RunConfig;
use dmn_app::task_spec::{copy, needle};
use dmn_app::{state_file, weights};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::page;

/// Which shipped run answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoTask {
    /// Needle retrieval: one value, recalled `distance` tokens later.
    Needle,
    /// Selective copying: several values scattered in a region of `distance` tokens, copied
    /// in order.
    Copy,
}

impl DemoTask {
    /// Both, in the order the window lists them.
    pub const ALL: [Self; 2] = [Self::Needle, Self::Copy];

    /// The shipped run directory, relative to the page.
    pub fn run(self) -> &'static str {
        match self {
            Self::Needle => "web/assets/needle-tiny",
            Self::Copy => "web/assets/copy-tiny",
        }
    }

    /// Its checkpoint's model file, relative to [`Self::run`].
    pub fn model(self) -> &'static str {
        match self {
            Self::Needle => "checkpoints/step-00000600/model.bpk",
            Self::Copy => "checkpoints/step-00005000/model.bpk",
        }
    }

    /// The name used in URLs (`?task=copy`) and in `dmn train --task`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Needle => "needle",
            Self::Copy => "copy",
        }
    }

    /// The task named `name` (as in URLs), if it is one of the demo's.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Distances (needle) or region lengths (copy) the demo's evaluation covers.
    pub fn eval_distances(self) -> [usize; 3] {
        match self {
            Self::Needle => [100, 1000, 10_000],
            Self::Copy => [64, 128, 512],
        }
    }
}

/// A shipped model, loaded.
pub struct Demo {
    /// Which one.
    pub task: DemoTask,
    /// Its run config (the task's number of values, the model).
    pub config: RunConfig,
    /// The model, on the demo's device.
    pub model: Dmn,
    /// That device.
    pub device: Device,
}

/// One question: which values, how far back, which noise.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The run asked.
    pub task: DemoTask,
    /// Needle: the value hidden after KEY (from 0).
    pub value: usize,
    /// Copy: the values to copy, in order (from 0).
    pub values: Vec<usize>,
    /// Needle: tokens from the value to the QUERY. Copy: the region's length.
    pub distance: usize,
    /// Seed of the noise and of the needle's position, or of the copied values' positions.
    pub seed: u64,
}

/// What the demo answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The values asked for: the needle's one value, or the values to copy in order.
    pub asked: Vec<usize>,
    /// The distance (needle) or region length (copy) asked about.
    pub distance: usize,
    /// The value answered at each query (`None`: a token that is not a value).
    pub recalled: Vec<Option<usize>>,
}

impl Answer {
    /// Queries answered right.
    pub fn correct(&self) -> usize {
        self.asked
            .iter()
            .zip(&self.recalled)
            .filter(|&(a, r)| Some(*a) == *r)
            .count()
    }
}

/// Fetches and loads the shipped run of `task` on `device`: its checkpoint's weights, or the
/// safetensors file at `weights` (recorded in `data-dmn-weights`).
pub async fn load(task: DemoTask, device: Device, weights: Option<&str>) -> Result<Demo, String> {
    let run = task.run();
    let config_url = format!("{run}/config.json");
    let text = page::fetch_text(&config_url).await?;
    let config = RunConfig::from_json(&text, &config_url).map_err(|e| format!("{e:#}"))?;
    let model = config.model.init(&device).map_err(|e| e.to_string())?;
    let model = match weights {
        Some(url) => {
            let model = safetensors(url, model).await?;
            page::record("weights", url);
            model
        }
        None => {
            let model_url = format!("{run}/{}", task.model());
            let bytes = page::fetch_bytes(&model_url).await?;
            model_from_bytes(bytes, &model_url, model).map_err(|e| format!("{e:#}"))?
        }
    };
    Ok(Demo {
        task,
        config,
        model,
        device,
    })
}

/// Loads the safetensors weights at `url` into `model`, checked against `url.sha256` when the
/// server has one (as `dmn export` writes it beside the file).
async fn safetensors(url: &str, model: Dmn) -> Result<Dmn, String> {
    let bytes = page::fetch_bytes(url).await?;
    let sums = format!("{url}.sha256");
    if let Ok(line) = page::fetch_text(&sums).await {
        weights::check_sha256(&bytes, &line, url, &sums).map_err(|e| format!("{e:#}"))?;
    }
    weights::from_bytes(bytes, url, model).map_err(|e| format!("{e:#}"))
}

/// The training curves of the shipped run of `task` (its `metrics.jsonl`), for the curves panel.
pub async fn curves(task: DemoTask) -> Result<History, String> {
    let url = format!("{}/metrics.jsonl", task.run());
    let text = page::fetch_text(&url).await?;
    History::parse_metrics(&text, &url).map_err(|e| format!("{e:#}"))
}

thread_local! {
    /// The snapshot last fetched, with its URL: every question of a page starts from the same
    /// file, so it is fetched once (and checked and restored per question, which is cheap).
    static SNAPSHOT: RefCell<Option<(String, Rc<[u8]>)>> = const { RefCell::new(None) };
}

/// The bytes of the snapshot at `url`, fetched on the first question that starts from it.
async fn snapshot_bytes(url: &str) -> Result<Rc<[u8]>, String> {
    let cached = SNAPSHOT.with_borrow(|s| {
        s.as_ref()
            .filter(|(fetched, _)| fetched == url)
            .map(|(_, bytes)| bytes.clone())
    });
    if let Some(bytes) = cached {
        return Ok(bytes);
    }
    let bytes: Rc<[u8]> = page::fetch_bytes(url).await?.into();
    SNAPSHOT.set(Some((url.to_string(), bytes.clone())));
    Ok(bytes)
}

/// The memory snapshot at `url` restored into `demo`'s model (recorded in
/// `data-dmn-state-position`), or an empty memory.
async fn start_state(demo: &Demo, url: Option<&str>) -> Result<DmnState, String> {
    let Some(url) = url else {
        return Ok(demo.model.init_state(1, &demo.device));
    };
    let bytes = snapshot_bytes(url).await?;
    let file = state_file::from_bytes(&bytes).map_err(|e| format!("{url} {e:#}"))?;
    let position = file.position;
    let config = &demo.config.model;
    let state = state_file::restore(url, file, config, &demo.model, &demo.device)
        .map_err(|e| format!("{e:#}"))?;
    page::record("state-position", &position.to_string());
    Ok(state)
}

/// What `demo` answers to `q`, starting from the memory snapshot at `state` (or an empty
/// memory), and the memory traces of the input it read.
pub async fn answer(
    demo: &Demo,
    q: &Question,
    state: Option<&str>,
) -> Result<(Answer, Vec<dmn::MemoryTrace>), String> {
    if q.distance == 0 {
        return Err("the distance must be at least 1".into());
    }
    let start = start_state(demo, state).await?;
    let spec = &demo.config.train.task;
    let mut rng = StdRng::seed_from_u64(q.seed);
    let (asked, batch, value_of): (Vec<usize>, _, Box<dyn Fn(u32) -> Option<usize>>) = match q.task
    {
        DemoTask::Needle => {
            let task = needle(spec, q.distance).map_err(|e| format!("{e:#}"))?;
            let batch = task
                .with_value(q.value, &mut rng)
                .map_err(|e| e.to_string())?;
            (vec![q.value], batch, Box::new(move |t| task.value_of(t)))
        }
        DemoTask::Copy => {
            let task = copy(spec, q.distance).map_err(|e| format!("{e:#}"))?;
            let batch = task
                .with_values(&q.values, &mut rng)
                .map_err(|e| e.to_string())?;
            (q.values.clone(), batch, Box::new(move |t| task.value_of(t)))
        }
    };
    let result = probe_from(&demo.model, start, &batch, &demo.device)
        .read_async()
        .await
        .map_err(|e| e.to_string())?;
    let answer = Answer {
        asked,
        distance: q.distance,
        recalled: result.answers.iter().map(|&t| value_of(t)).collect(),
    };
    Ok((answer, result.traces))
}
