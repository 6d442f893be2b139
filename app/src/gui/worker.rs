//! The training thread: owns the [`Session`], obeys [`Command`]s and reports [`Event`]s. The
//! window never touches the model; it only reads these events.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use dmn::MemoryTrace;

use super::history::Point;
use crate::session::Session;

/// What the window asks of the training thread.
#[derive(Debug, Clone)]
pub enum Command {
    /// Train continuously.
    Run,
    /// Stop after the current step.
    Pause,
    /// Train exactly one step, then pause.
    Step,
    /// Write a checkpoint now.
    Save,
    /// Continue from a checkpoint directory.
    Load(PathBuf),
    /// Accuracy against distance at these task lengths.
    Evaluate(Vec<usize>),
    /// End the thread.
    Quit,
}

/// What the training thread reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// The session is ready: its run directory, current and final step.
    Ready { run: PathBuf, step: u64, total: u64 },
    /// A step finished and its figures were read (on the steps that log: see
    /// [`Session::step`](crate::session::Session::step)).
    Step(Point),
    /// A step finished without its figures being read: the step and the tokens trained by it.
    Queued { step: u64, tokens: u64 },
    /// Traces of the held-out sequence at `step`.
    Trace { step: u64, traces: Vec<MemoryTrace> },
    /// Accuracy by distance.
    Evaluated(Vec<(u64, f32)>),
    /// A checkpoint was written (or loaded, at `step`).
    Checkpoint { path: PathBuf, step: u64 },
    /// Training paused (by request, at the end, or at the `pause_at` step).
    Paused,
    /// Something failed; training is paused.
    Error(String),
}

/// Seconds between traces while training runs: tracing one sequence costs a forward pass of a
/// single row, so this keeps it a small fraction of training time.
const TRACE_EVERY: Duration = Duration::from_millis(1500);

/// A running training thread.
pub struct Worker {
    /// Commands to the thread.
    pub commands: Sender<Command>,
    /// Events from the thread.
    pub events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a thread that builds its session with `open` and trains when `run` is set, pausing
    /// by itself once step `pause_at` is done. `wake` is called after every event (to repaint).
    pub fn spawn(
        open: impl FnOnce() -> Result<Session> + Send + 'static,
        run: bool,
        pause_at: Option<u64>,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (commands, inbox) = channel();
        let (outbox, events) = channel();
        let thread = std::thread::Builder::new()
            .name("dmn-training".into())
            .spawn(move || {
                let send = |e: Event| {
                    let _ = outbox.send(e);
                    wake();
                };
                match open() {
                    Ok(session) => train(session, run, pause_at, &inbox, &send),
                    Err(e) => send(Event::Error(format!("{e:#}"))),
                }
            })
            .expect("the OS can start a thread");
        Self {
            commands,
            events,
            thread: Some(thread),
        }
    }

    /// Sends a command (ignored if the thread has ended).
    pub fn send(&self, command: Command) {
        let _ = self.commands.send(command);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Quit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn train(
    mut session: Session,
    mut running: bool,
    pause_at: Option<u64>,
    inbox: &Receiver<Command>,
    send: &dyn Fn(Event),
) {
    send(Event::Ready {
        run: session.run.path.clone(),
        step: session.state.step,
        total: session.config.train.steps,
    });
    let trace = |session: &mut Session| match session.trace() {
        Ok(traces) => send(Event::Trace {
            step: session.state.step,
            traces,
        }),
        Err(e) => send(Event::Error(format!("trace: {e:#}"))),
    };
    trace(&mut session);
    let mut last_trace = Instant::now();
    let mut single = false;
    loop {
        // Idle: block until told otherwise. Running: look at the inbox between steps.
        let next = if running || single {
            match inbox.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match inbox.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        match next {
            Some(Command::Quit) => return,
            Some(Command::Run) => running = true,
            Some(Command::Pause) => {
                running = false;
                send(Event::Paused);
            }
            Some(Command::Step) => single = true,
            Some(Command::Save) => match session.save() {
                Ok(path) => send(Event::Checkpoint {
                    path,
                    step: session.state.step,
                }),
                Err(e) => send(Event::Error(format!("save: {e:#}"))),
            },
            Some(Command::Load(path)) => match session.load(&path) {
                Ok(()) => {
                    send(Event::Checkpoint {
                        path,
                        step: session.state.step,
                    });
                    trace(&mut session);
                }
                Err(e) => send(Event::Error(format!("load: {e:#}"))),
            },
            Some(Command::Evaluate(distances)) => {
                let mut out = Vec::new();
                for d in distances {
                    match session.evaluate(d, 16) {
                        Ok(a) => out.push((d as u64, a)),
                        Err(e) => {
                            send(Event::Error(format!("evaluate at {d}: {e:#}")));
                            break;
                        }
                    }
                }
                send(Event::Evaluated(out));
            }
            None => {}
        }
        if !(running || single) {
            continue;
        }
        if session.finished() {
            running = false;
            single = false;
            trace(&mut session);
            send(Event::Paused);
            continue;
        }
        // A step that ends in a pause shows its figures, as one the user steps alone does.
        let pauses = pause_at.is_some_and(|n| session.state.step + 1 >= n);
        let stepped = if single || pauses {
            session.step_and_read()
        } else {
            session.step()
        };
        match stepped {
            Ok(report) => send(match (report.stats, report.tokens_per_s) {
                (Some(stats), Some(tokens_per_s)) => Event::Step(Point {
                    step: report.step,
                    loss: stats.loss,
                    accuracy: stats.accuracy,
                    tokens_per_s,
                    length: report.length,
                    tokens: session.state.tokens,
                }),
                _ => Event::Queued {
                    step: report.step,
                    tokens: session.state.tokens,
                },
            }),
            Err(e) => {
                running = false;
                send(Event::Error(format!("{e:#}")));
                continue;
            }
        }
        let stop_here = pause_at.is_some_and(|n| session.state.step >= n);
        if single || stop_here || last_trace.elapsed() >= TRACE_EVERY {
            trace(&mut session);
            last_trace = Instant::now();
        }
        if stop_here {
            running = false;
            send(Event::Paused);
        }
        single = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::train::{TrainArgs, new_run};
    use crate::task_spec::TaskKind;

    fn next(events: &Receiver<Event>) -> Event {
        events
            .recv_timeout(Duration::from_secs(120))
            .expect("the training thread answers")
    }

    #[test]
    fn commands_drive_the_session_and_every_answer_is_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let args = TrainArgs {
            length: Some(12),
            steps: Some(3),
            ..TrainArgs::new(TaskKind::Needle, dir.path().join("run"))
        };
        let worker = Worker::spawn(
            move || {
                let (run, config) = new_run(&args)?;
                Session::start(run, config, false)
            },
            false,
            None,
            || {},
        );
        assert!(matches!(
            next(&worker.events),
            Event::Ready {
                step: 0,
                total: 3,
                ..
            }
        ));
        assert!(matches!(next(&worker.events), Event::Trace { step: 0, .. }));

        worker.send(Command::Step);
        assert!(matches!(next(&worker.events), Event::Step(p) if p.step == 1));
        let Event::Trace { step: 1, traces } = next(&worker.events) else {
            panic!("a single step is traced")
        };
        assert!(!traces.is_empty());

        worker.send(Command::Save);
        let Event::Checkpoint { path, step: 1 } = next(&worker.events) else {
            panic!("save answers with the checkpoint")
        };
        worker.send(Command::Evaluate(vec![12, 48]));
        let Event::Evaluated(points) = next(&worker.events) else {
            panic!("evaluate answers with the points")
        };
        assert_eq!(points.iter().map(|p| p.0).collect::<Vec<_>>(), vec![12, 48]);
        assert!(points.iter().all(|p| (0.0..=1.0).contains(&p.1)));

        // Run to the end: steps 2 and 3, then a pause with the final trace.
        worker.send(Command::Run);
        let mut last = 1;
        loop {
            match next(&worker.events) {
                Event::Step(p) => last = p.step,
                Event::Paused => break,
                Event::Error(e) => panic!("{e}"),
                _ => {}
            }
        }
        assert_eq!(last, 3);

        // Loading the step-1 checkpoint goes back to step 1.
        worker.send(Command::Load(path));
        assert!(matches!(
            next(&worker.events),
            Event::Checkpoint { step: 1, .. }
        ));
        worker.send(Command::Load(dir.path().join("missing")));
        loop {
            match next(&worker.events) {
                Event::Error(e) => {
                    assert!(e.contains("load"), "{e}");
                    break;
                }
                Event::Trace { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
