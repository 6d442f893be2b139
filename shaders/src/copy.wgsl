// A plain copy, four floats per thread: the device's achievable memory bandwidth, against which
// `dmn bench kernels` rates the other kernels.

@group(0) @binding(0) var<storage, read_write> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> sizes: array<u32>;      // vec4 count, groups along x

const WG: u32 = {{ wg }}u;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let i = (wid.y * sizes[1] + wid.x) * WG + lid.x;
    if i < sizes[0] {
        dst[i] = src[i];
    }
}
