//! Closing the window by itself (`--exit-after-steps`): once training has paused at the step
//! and its memory trace is drawn, take the screenshot (`--screenshot`), write it, close. What
//! the window measured is printed as one JSON line when it closes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use eframe::egui;

/// How long the renderer may take to deliver a screenshot, in seconds.
const SCREENSHOT_TIMEOUT_S: f64 = 20.0;

/// What the window measured, printed when it closes.
#[derive(Debug, Default)]
pub struct Summary {
    /// Frames drawn while training.
    pub frames: u64,
    /// Seconds spent training.
    pub seconds: f64,
    /// The last step trained.
    pub steps: u64,
    pub tokens_per_s: f64,
    /// Where the screenshot was written.
    pub screenshot: Option<PathBuf>,
    /// Why the run or the screenshot failed.
    pub error: Option<String>,
}

impl Summary {
    /// Prints the summary as one JSON line; the error, if one happened.
    pub fn report(&self) -> Result<()> {
        let fps = if self.seconds > 0.0 {
            self.frames as f64 / self.seconds
        } else {
            0.0
        };
        println!(
            "{}",
            serde_json::json!({
                "steps": self.steps,
                "ui_fps_while_training": fps,
                "training_tokens_per_s": self.tokens_per_s,
                "screenshot": self.screenshot,
            })
        );
        if let Some(e) = &self.error {
            bail!("{e}");
        }
        Ok(())
    }
}

/// How far the sequence has got.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Training,
    /// Waiting for the screenshot asked for at this time.
    Shooting(f64),
    Closing,
}

/// The `--exit-after-steps` sequence.
pub struct Exit {
    /// The step to stop at; `None`: the window stays open.
    after: Option<u64>,
    screenshot: Option<PathBuf>,
    stage: Stage,
    /// The renderer delivers the screenshot here.
    shot: Arc<Mutex<Option<Arc<egui::ColorImage>>>>,
}

impl Exit {
    /// Closes after step `after` (if any), writing a screenshot to `screenshot` (if asked).
    pub fn new(after: Option<u64>, screenshot: Option<PathBuf>) -> Self {
        Self {
            after,
            screenshot,
            stage: Stage::Training,
            shot: Arc::new(Mutex::new(None)),
        }
    }

    /// Advances the sequence by a frame. `step` is the step trained so far of `total`, and
    /// `settled` whether training is paused with that step's trace drawn.
    pub fn frame(
        &mut self,
        ctx: &egui::Context,
        (step, total): (u64, u64),
        settled: bool,
        summary: &Mutex<Summary>,
    ) {
        let Some(n) = self.after else {
            return;
        };
        let now = ctx.input(|i| i.time);
        match self.stage {
            Stage::Training if settled && (step >= n || (total > 0 && step >= total)) => {
                self.stage = if self.screenshot.is_some() {
                    self.request_screenshot(ctx);
                    Stage::Shooting(now)
                } else {
                    Stage::Closing
                };
            }
            Stage::Shooting(since) => {
                let image = self.shot.lock().ok().and_then(|mut s| s.take());
                let path = self.screenshot.clone().expect("shooting only with a path");
                if let Some(image) = image {
                    let written = write_png(&image, &path);
                    if let Ok(mut s) = summary.lock() {
                        match written {
                            Ok(()) => s.screenshot = Some(path),
                            Err(e) => s.error = Some(format!("{e:#}")),
                        }
                    }
                    self.stage = Stage::Closing;
                } else if now - since > SCREENSHOT_TIMEOUT_S {
                    if let Ok(mut s) = summary.lock() {
                        s.error = Some(format!(
                            "the renderer delivered no screenshot within {SCREENSHOT_TIMEOUT_S} s"
                        ));
                    }
                    self.stage = Stage::Closing;
                }
                ctx.request_repaint();
            }
            _ => {}
        }
        if self.stage == Stage::Closing {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Asks the renderer for the next frame's picture, delivered into `shot`.
    fn request_screenshot(&self, ctx: &egui::Context) {
        let slot = self.shot.clone();
        let wake = ctx.clone();
        ctx.request_screenshot(move |image| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(image);
            }
            wake.request_repaint();
        });
    }
}

/// Writes an RGBA PNG, atomically (temporary file, then rename).
fn write_png(image: &egui::ColorImage, path: &Path) -> Result<()> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let buffer = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .context("the screenshot has an inconsistent size")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("png.tmp");
    buffer
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screenshot_is_written_as_a_png_of_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shots/window.png");
        let image = egui::ColorImage::filled([3, 2], egui::Color32::RED);
        write_png(&image, &path).unwrap();
        let png = image::open(&path).unwrap().to_rgba8();
        assert_eq!(png.dimensions(), (3, 2));
        assert_eq!(png.get_pixel(2, 1).0, [255, 0, 0, 255]);
        assert!(!path.with_extension("png.tmp").exists());
    }

    #[test]
    fn the_summary_reports_the_error_it_holds() {
        let summary = Summary {
            error: Some("the renderer delivered no screenshot within 20 s".into()),
            ..Summary::default()
        };
        let err = summary.report().unwrap_err();
        assert!(err.to_string().contains("no screenshot"), "{err}");
    }
}
