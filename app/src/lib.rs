//! The DMN trainer: the desktop window (`dmn gui`) and the headless command line
//! (`dmn train / eval / probe / stream / report / bench`). On wasm32 the library keeps what the browser demo
//! (`dmn-web`) shares with the desktop: the panels, run configs and checkpoint decoding.

pub mod checkpoint;
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
pub mod commands;
pub mod gui;
pub mod memory_usage;
#[cfg(not(target_arch = "wasm32"))]
pub mod plots;
pub mod progress;
pub mod run_dir;
pub mod session;
pub mod state_file;
pub mod task_spec;
pub mod weights;
