//! What the page's URL asks for, and values typed as a list (in the URL or the window).

use crate::demo::DemoTask;
use crate::page::url_param;

/// What the page's URL asks for: `?mode=demo&value=5&distance=300&seed=0` asks the shipped
/// needle model at once, `?mode=demo&task=copy&values=3,1,4&distance=100` the copy model
/// (`&evaluate=1` then evaluates it at several distances); `?mode=train&distance=64` trains from
/// scratch (the default). `&timeline=URL` opens a stream timeline beside either; `&weights=URL` has
/// the demo load its model from a safetensors file written by `dmn export`; `&state=URL` has it
/// answer from a memory snapshot written by `dmn stream --save-state` instead of an empty memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Start in the pretrained demo instead of training.
    pub demo: bool,
    /// Which shipped model the demo asks (`task=needle|copy`; needle by default).
    pub task: DemoTask,
    /// Needle value to hide (demo) — numbered from 0.
    pub value: Option<usize>,
    /// Values to copy (demo, copy task), comma-separated.
    pub values: Option<Vec<usize>>,
    /// Distance from the value to the query.
    pub distance: Option<usize>,
    /// Seed of the noise (demo) or of the run (training).
    pub seed: Option<u64>,
    /// Evaluate the shipped model at several distances once loaded (demo).
    pub evaluate: bool,
    /// A stream timeline to open in the timeline panel (`timeline=URL`, a file written by
    /// `dmn stream --trace`, relative to the page).
    pub timeline: Option<String>,
    /// Safetensors weights for the demo's model (`weights=URL`, a file written by `dmn export`
    /// for a model of the same config), checked against `URL.sha256` where the server has it.
    pub weights: Option<String>,
    /// A memory snapshot the demo's questions start from (`state=URL`, written by `dmn stream
    /// --save-state` with the demo's run), as `dmn probe --load-state` does natively.
    pub state: Option<String>,
}

impl Params {
    /// The parameters of the current URL; unknown or malformed ones are ignored.
    pub fn from_url() -> Self {
        Self {
            demo: url_param("mode").as_deref() == Some("demo"),
            task: url_param("task")
                .and_then(|t| DemoTask::from_name(&t))
                .unwrap_or(DemoTask::Needle),
            value: url_param("value").and_then(|v| v.parse().ok()),
            values: url_param("values").and_then(|v| parse_values(&v).ok()),
            distance: url_param("distance").and_then(|v| v.parse().ok()),
            seed: url_param("seed").and_then(|v| v.parse().ok()),
            evaluate: url_param("evaluate").as_deref() == Some("1"),
            timeline: url_param("timeline").filter(|t| !t.is_empty()),
            weights: url_param("weights").filter(|w| !w.is_empty()),
            state: url_param("state").filter(|s| !s.is_empty()),
        }
    }
}

/// Values typed as a list, e.g. `3, 1, 4` or `3 1 4`.
pub fn parse_values(text: &str) -> Result<Vec<usize>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<usize>().map_err(|_| {
                format!("`{t}` is not a value; type whole numbers from 0, e.g. 3, 1, 4")
            })
        })
        .collect()
}
