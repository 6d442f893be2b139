//! The DMN trainer: the headless command line (`dmn train / eval / stream`).

pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod memory_usage;
pub mod progress;
pub mod run_dir;
pub mod task_spec;
