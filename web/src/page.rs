//! The page around the canvas: URL parameters, the state recorded on `<body>`
//! (`data-dmn-*`, read by the browser tests and by users who script the page), messages,
//! time, sleeping and fetching. Browser I/O only: the rest of the crate builds on it.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The value of the parameter `name` in the page's URL (`?name=value`), if it has one.
pub fn url_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
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
