//! Which burn device the demo runs on: WebGPU when the browser offers an adapter, else burn's
//! CPU backend compiled to wasm, with a message saying so.

use burn::tensor::Device;
use burn::tensor::wgpu::WgpuSetup;
use eframe::egui_wgpu::{WgpuSetup as WindowSetup, WgpuSetupCreateNew};
use wasm_bindgen::JsValue;

/// The device and how it is labelled on the page.
#[derive(Debug, Clone)]
pub struct Backend {
    /// Where tensors live (without autodiff).
    pub device: Device,
    /// `webgpu` or `cpu` (the `data-dmn-backend` value).
    pub name: &'static str,
    /// Why the CPU backend runs, when it does.
    pub note: Option<String>,
    /// The WebGPU instance, adapter, device and queue burn runs on. Held for the page's
    /// lifetime: Chromium invalidates a device whose instance was dropped ("a valid external
    /// Instance reference no longer exists"), and burn keeps only the device and queue.
    _setup: Option<WgpuSetup>,
}

impl Backend {
    /// The CPU backend, with the reason it is used.
    pub fn cpu(reason: String) -> Self {
        Self {
            device: Device::flex(),
            name: "cpu",
            note: Some(format!(
                "{reason}; running on the CPU backend instead (much slower). Chrome and Edge \
                 ship WebGPU; elsewhere enable it in the browser's settings."
            )),
            _setup: None,
        }
    }

    /// WebGPU if the browser has an adapter, else the CPU backend.
    pub async fn choose() -> Self {
        if !has_webgpu() {
            return Self::cpu("this browser offers no WebGPU (navigator.gpu is missing)".into());
        }
        match Device::wgpu_options().init_with_setup_async().await {
            Ok((device, setup)) => Self {
                device,
                name: "webgpu",
                note: None,
                _setup: Some(setup),
            },
            Err(e) => Self::cpu(format!("WebGPU gave no usable adapter ({e:?})")),
        }
    }
}

/// The window's renderer: WebGL2, apart from the model's WebGPU device. A failure of the canvas
/// (a software adapter that cannot share its swap-chain images, as headless Chromium's) then
/// cannot take the model's device down, and the window draws the same whether or not the browser
/// has WebGPU.
pub fn window_setup() -> WindowSetup {
    let mut setup = WgpuSetupCreateNew::without_display_handle();
    setup.instance_descriptor.backends = eframe::wgpu::Backends::GL;
    WindowSetup::CreateNew(setup)
}

/// Whether `navigator.gpu` exists. Asked first because wgpu aborts the module (a wasm panic)
/// in some browsers without it instead of returning an error.
fn has_webgpu() -> bool {
    web_sys::window()
        .and_then(|w| js_sys::Reflect::get(&w.navigator(), &JsValue::from_str("gpu")).ok())
        .is_some_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}
