//! The model from outside, in one test binary (one link instead of three): the kernels against
//! their references on a real wgpu device, learning on the CPU, data-parallel training. The
//! learning test's CPU work runs beside the kernel tests, which spend much of their time waiting
//! on the Vulkan driver's shader compiler.

mod data_parallel;
mod kernels;
mod learning;
