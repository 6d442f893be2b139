//! Progress of a training run: an indicatif bar on a terminal, plain log lines otherwise (CI
//! logs, pipes), so the output is readable either way.

use std::io::IsTerminal;

use dmn::train::StepStats;
use indicatif::{ProgressBar, ProgressStyle};

/// Reports steps of a run.
pub enum Progress {
    /// Interactive bar.
    Bar(ProgressBar),
    /// One line every `every` steps.
    Lines {
        /// Steps between lines.
        every: u64,
        /// Total steps.
        total: u64,
    },
}

impl Progress {
    /// A bar when stdout is a terminal, lines otherwise.
    pub fn new(start: u64, total: u64, every: u64) -> Self {
        if std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
                )
                .expect("the template is valid")
                .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            bar.set_position(start);
            Self::Bar(bar)
        } else {
            Self::Lines {
                every: every.max(1),
                total,
            }
        }
    }

    /// Reports a finished step whose figures were not read: the bar moves, the message stays.
    pub fn advance(&self, step: u64) {
        if let Self::Bar(bar) = self {
            bar.set_position(step);
        }
    }

    /// Reports a finished step and its figures.
    pub fn step(&self, step: u64, stats: &StepStats, tokens_per_s: f64, length: usize) {
        let (loss, accuracy) = (stats.loss, stats.accuracy);
        let msg =
            format!("loss {loss:.4}  acc {accuracy:.3}  {tokens_per_s:.0} tok/s  len {length}");
        match self {
            Self::Bar(bar) => {
                bar.set_position(step);
                bar.set_message(msg);
            }
            Self::Lines { every, total } => {
                if step % every == 0 || step == *total {
                    println!("step {step}/{total}  {msg}");
                }
            }
        }
    }

    /// Ends the bar.
    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish();
        }
    }
}
