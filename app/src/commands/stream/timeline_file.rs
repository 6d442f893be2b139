//! `dmn stream --trace OUT`: the memory's [`Timeline`] over the whole stream, written as JSON
//! when the stream ends (bounded in size however long the stream; see [`dmn::timeline`]), for
//! the desktop trainer and the browser page to open.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dmn::DmnConfig;
use dmn::timeline::{Asked, Timeline};
use dmn::trace::SegmentTrace;

use super::check_folder;

/// A timeline being built, and the file it goes to.
pub(super) struct TimelineFile {
    path: PathBuf,
    timeline: Timeline,
}

impl TimelineFile {
    /// A timeline for `config`'s model, to be written to `path` (its folder must exist: checked
    /// now rather than after a stream that may take hours).
    pub(super) fn create(path: &Path, config: &DmnConfig) -> Result<Self> {
        check_folder("--trace", path)?;
        Ok(Self {
            path: path.to_path_buf(),
            timeline: Timeline::for_config(config),
        })
    }

    /// Marks `position` (see [`Timeline::mark`]).
    pub(super) fn mark(&mut self, position: u64, label: &str) {
        self.timeline.mark(position, label);
    }

    /// Adds a segment of `tokens` from token `start`, with its trace and the answers in it.
    pub(super) fn push(
        &mut self,
        start: u64,
        tokens: &[u32],
        trace: Option<&SegmentTrace>,
        asked: &[Asked],
    ) {
        if let Some(trace) = trace {
            self.timeline.push(start, tokens, &trace.read(), asked);
        }
    }

    /// Writes the timeline (atomically); returns its path.
    pub(super) fn save(self) -> Result<PathBuf> {
        let json = serde_json::to_vec(&self.timeline).context("cannot encode the timeline")?;
        crate::run_dir::write_atomic(&self.path, &json)?;
        Ok(self.path)
    }
}
