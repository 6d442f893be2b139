//! The DMN trainer: the desktop window (`dmn gui`) and the headless command line
//! (`dmn train / eval / stream / bench`).

pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod gui;
pub mod memory_usage;
pub mod progress;
pub mod run_dir;
pub mod session;
pub mod task_spec;
