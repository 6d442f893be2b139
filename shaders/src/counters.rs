//! How many kernels a piece of work launches: every compute dispatch issued through cubecl
//! (burn's own kernels, fused or not, and ours), and ours by name on one device.
//!
//! Burn's fusion queues a device's ops and launches them from its own thread when it must (at a
//! read, or when the queue is full), so launches cannot be told apart by the thread that asked
//! for them. Ours are told apart by device instead; the total counts every device, so it is
//! exact only when nothing else runs (a benchmark), while a test can check what its own device
//! ran beside other tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use burn::backend::DispatchDevice;
use burn::tensor::Device;
use cubecl::logging::{LaunchObservation, LaunchObserver};

/// Kernel launches counted over some work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launches {
    /// Every compute kernel launched through cubecl, on any device (one dispatch each).
    pub total: u64,
    /// The same launches by the kernel's type name without its path or generics (ours all
    /// carry the launcher's name; see [`Self::wgsl`] for them by file).
    pub by_name: BTreeMap<&'static str, u64>,
    /// This crate's kernels on the device counted, by `.wgsl` file (`scan`, `scan_backward`, …).
    pub wgsl: BTreeMap<&'static str, u64>,
}

impl Launches {
    /// Launches of the `.wgsl` kernel `name` (0 when it did not run).
    pub fn of(&self, name: &str) -> u64 {
        self.wgsl.get(name).copied().unwrap_or(0)
    }

    /// The `n` most launched kernels by name, most first.
    pub fn top(&self, n: usize) -> Vec<(&'static str, u64)> {
        let mut all: Vec<(&'static str, u64)> =
            self.by_name.iter().map(|(&k, &v)| (k, v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }
}

/// Counts by name; what is counted after a snapshot is `now − then`.
type Tally = BTreeMap<&'static str, u64>;

fn since(now: &Tally, then: &Tally) -> Tally {
    now.iter()
        .map(|(&k, &v)| (k, v - then.get(k).copied().unwrap_or(0)))
        .filter(|&(_, v)| v > 0)
        .collect()
}

static TOTAL: AtomicU64 = AtomicU64::new(0);
static BY_NAME: Mutex<Tally> = Mutex::new(BTreeMap::new());
static WGSL: OnceLock<Mutex<HashMap<cubecl::Device, Tally>>> = OnceLock::new();

fn wgsl_tallies() -> std::sync::MutexGuard<'static, HashMap<cubecl::Device, Tally>> {
    WGSL.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn by_name() -> std::sync::MutexGuard<'static, Tally> {
    BY_NAME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The observer cubecl calls on every launch.
struct Everything;

impl LaunchObserver for Everything {
    fn launched(&self, kernel: &'static str) {
        // `burn_cubecl::kernel::unary_float::UnaryKernel<…>` → `UnaryKernel`: one row per kernel,
        // whatever its element types.
        let base = kernel.split('<').next().unwrap_or(kernel);
        let name = base.rsplit("::").next().unwrap_or(base);
        TOTAL.fetch_add(1, Ordering::Relaxed);
        *by_name().entry(name).or_default() += 1;
    }
}

/// Whether anything has counted launches yet: until then a launch notes nothing, so a run
/// that never counts takes no lock per launch.
static COUNTING: AtomicBool = AtomicBool::new(false);

/// Notes one launch of the `.wgsl` kernel `name` on `device` (the launcher calls it).
pub(crate) fn note_wgsl(device: &cubecl::Device, name: &'static str) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    *wgsl_tallies()
        .entry(device.clone())
        .or_default()
        .entry(name)
        .or_default() += 1;
}

/// The cubecl device under `device`, if it is one.
fn cube_device(device: &Device) -> Option<cubecl::Device> {
    match device.clone().inner().as_dispatch() {
        DispatchDevice::Cube(d) => Some(d.clone()),
        _ => None,
    }
}

/// Runs `work` and counts the kernels launched meanwhile: in all, and ours on `device`. Launches
/// are counted when they are issued, so `work` should end by reading its results back.
///
/// The first call installs a process-wide launch observer for the rest of the process, which
/// costs every later launch a counter and a map update; nothing is observed or noted before it.
pub fn count_launches<R>(device: &Device, work: impl FnOnce() -> R) -> (R, Launches) {
    static OBSERVING: OnceLock<LaunchObservation> = OnceLock::new();
    OBSERVING.get_or_init(|| LaunchObservation::new(Arc::new(Everything)));
    COUNTING.store(true, Ordering::Relaxed);
    let cube = cube_device(device);
    let ours = || {
        cube.as_ref()
            .and_then(|d| wgsl_tallies().get(d).cloned())
            .unwrap_or_default()
    };
    let (total, names, wgsl) = (TOTAL.load(Ordering::Relaxed), by_name().clone(), ours());
    let out = work();
    let launches = Launches {
        total: TOTAL.load(Ordering::Relaxed) - total,
        by_name: since(&by_name(), &names),
        wgsl: since(&ours(), &wgsl),
    };
    (out, launches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::DeviceKind;

    fn wgpu(kind: DeviceKind) -> (Device, cubecl::Device) {
        let device = Device::wgpu(kind);
        let cube = cube_device(&device).expect("a wgpu device is a cubecl device");
        (device, cube)
    }

    #[test]
    fn a_count_holds_what_was_launched_during_it_on_its_device() {
        let (device, cube) = wgpu(DeviceKind::IntegratedGpu(7));
        let (_, other) = wgpu(DeviceKind::DiscreteGpu(7));
        note_wgsl(&cube, "scan");
        let ((), during) = count_launches(&device, || {
            note_wgsl(&cube, "scan");
            note_wgsl(&cube, "scan_backward");
            note_wgsl(&cube, "scan");
            note_wgsl(&other, "retrieve");
            Everything.launched("burn_cubecl::kernel::UnaryKernel<f32, burn_cubecl::Exp>");
        });
        assert_eq!((during.of("scan"), during.of("scan_backward")), (2, 1));
        assert_eq!(during.of("retrieve"), 0, "launched on another device");
        assert!(during.total >= 1);
        assert!(
            during
                .top(usize::MAX)
                .iter()
                .any(|&(k, n)| k == "UnaryKernel" && n >= 1)
        );
    }

    #[test]
    fn the_cpu_launches_none_of_ours() {
        let ((), during) = count_launches(&Device::flex(), || {});
        assert!(during.wgsl.is_empty());
    }
}
