//! The `dmn` binary and the browser page end to end, as a user runs them. One test binary (one
//! link instead of three), so that the browser's training, which keeps one core busy for
//! minutes on a software adapter, runs beside the command-line and window tests.

mod browser;
mod cli;
mod gui;
