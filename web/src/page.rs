//! The page around the canvas: URL parameters, the state recorded on `<body>`
//! (`data-dmn-*`, read by the browser tests and by users who script the page), messages,
//! time, sleeping and fetching.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::demo::DemoTask;

/// What the page's URL asks for: `?mode=demo&value=5&distance=300&seed=0` asks the shipped
/// needle model at once, `?mode=demo&task=copy&values=3,1,4&distance=100` the copy model
/// (`&evaluate=1` then evaluates it at several distances); `?mode=train&distance=64` trains from
/// scratch (the default).
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
}

impl Params {
    /// The parameters of the current URL; unknown or malformed ones are ignored.
    pub fn from_url() -> Self {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
        let get = |k: &str| params.as_ref().and_then(|p| p.get(k));
        Self {
            demo: get("mode").as_deref() == Some("demo"),
            task: get("task")
                .and_then(|t| DemoTask::from_name(&t))
                .unwrap_or(DemoTask::Needle),
            value: get("value").and_then(|v| v.parse().ok()),
            values: get("values").and_then(|v| parse_values(&v).ok()),
            distance: get("distance").and_then(|v| v.parse().ok()),
            seed: get("seed").and_then(|v| v.parse().ok()),
            evaluate: get("evaluate").as_deref() == Some("1"),
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

fn document() -> Option<web_sys::Document> {
    web_sys::window().and_then(|w| w.document())
}

/// The canvas with this id.
pub fn canvas(id: &str) -> Result<web_sys::HtmlCanvasElement, String> {
    document()
        .and_then(|d| d.get_element_by_id(id))
        .and_then(|e| e.dyn_into().ok())
        .ok_or_else(|| format!("the page has no <canvas id=\"{id}\">"))
}

/// Records `data-dmn-{name}` on `<body>`.
pub fn record(name: &str, value: &str) {
    if let Some(body) = document().and_then(|d| d.body()) {
        let _ = body.set_attribute(&format!("data-dmn-{name}"), value);
    }
}

/// Shows `text` in the page's message bar (`#dmn-message`), above the canvas.
pub fn message(text: &str) {
    if let Some(el) = document().and_then(|d| d.get_element_by_id("dmn-message")) {
        el.set_text_content(Some(text));
        let _ = el.set_attribute("class", if text.is_empty() { "" } else { "shown" });
    }
}

/// An error the user must see: in the message bar and in `data-dmn-error`.
pub fn fail(text: &str) {
    message(text);
    record("error", text);
    web_sys::console::error_1(&text.into());
}

/// Milliseconds since the page started loading.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Yields to the browser for `ms` milliseconds (0: until its next turn), so it can draw.
pub async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

async fn response(url: &str) -> Result<web_sys::Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("cannot fetch {url}: {e:?}"))?
        .dyn_into()
        .map_err(|_| format!("{url}: not an HTTP response"))?;
    if !resp.ok() {
        return Err(format!(
            "{url}: HTTP {} (is the page served from the repository root?)",
            resp.status()
        ));
    }
    Ok(resp)
}

/// The body of `url` as bytes.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(
        response(url)
            .await?
            .array_buffer()
            .map_err(|e| format!("{url}: {e:?}"))?,
    )
    .await
    .map_err(|e| format!("{url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The body of `url` as text.
pub async fn fetch_text(url: &str) -> Result<String, String> {
    let bytes = fetch_bytes(url).await?;
    String::from_utf8(bytes).map_err(|_| format!("{url} is not UTF-8 text"))
}
