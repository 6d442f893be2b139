//! DMN in the browser: the same model, kernels and memory panels as the desktop trainer, on
//! burn's WebGPU backend (or its CPU backend, visibly labelled, when the browser has no WebGPU).
//!
//! The page (`index.html`) loads this module, which starts eframe's web runner on the canvas
//! `#dmn-canvas`. Two modes: train a tiny model from scratch, live ([`training`]), or ask the
//! pretrained needle or copy model shipped in `web/assets/` about an input the user edits
//! ([`demo`], asked from the window by [`asking`]). [`app`] is the window, [`live`] what the
//! running tasks share with it.
//! Every readback is asynchronous (a blocking one panics in the browser). The page records its
//! state on `<body>` for tests and scripts ([`page`]: the browser I/O, which every other module
//! builds on and which depends on none of them).

#![cfg(target_arch = "wasm32")]

pub mod app;
pub mod asking;
pub mod backend;
pub mod demo;
pub mod live;
pub mod page;
pub mod params;
pub mod training;

use wasm_bindgen::prelude::*;

/// Entry point, run when the module loads.
#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        if let Err(e) = run().await {
            page::fail(&format!("the demo could not start: {e}"));
        }
    });
}

async fn run() -> Result<(), String> {
    let canvas = page::canvas("dmn-canvas")?;
    let params = params::Params::from_url();
    page::record("module-ms", &format!("{:.0}", page::now_ms()));
    let backend = backend::Backend::choose().await;
    page::record("backend-ms", &format!("{:.0}", page::now_ms()));
    let mut options = eframe::WebOptions::default();
    options.wgpu_options.wgpu_setup = backend::window_setup();
    let runner = eframe::WebRunner::new();
    runner
        .start(
            canvas,
            options,
            Box::new(move |cc| Ok(Box::new(app::WebApp::new(cc, params, backend)))),
        )
        .await
        .map_err(|e| format!("{e:?}"))
}
