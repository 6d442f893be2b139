// Hierarchical retrieval, backward, per query row: the query gradient and the score gradients
// the entry kernel (`retrieve_entries_backward.wgsl`) sums over rows.
//
//   dw_e = dweights_e + dcontext · l_e,     ds_e = w_e (dw_e − Σ_j w_j dw_j)
//   dq   = Σ_e ds_e l_e / √d
//
// Invalid entries have w = 0, hence ds = 0: no gradient reaches them.

@group(0) @binding(0) var<storage, read_write> ltm: array<f32>;     // [B, E, d]
@group(0) @binding(1) var<storage, read_write> forward: array<f32>; // [B, L, d + E]
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;    // [B, L, d + E]
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;   // dq [B, L, d] ‖ ds [B, L, E]
@group(0) @binding(4) var<storage, read_write> sizes: array<u32>;   // L, d, offset of ds

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let d = sizes[1];
    let off_ds = sizes[2];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    if r >= rows {
        return;
    }
    let row = b * rows + r;
    let o0 = row * (d + E);
    let scale = 1.0 / sqrt(f32(d));

    var ds: array<f32, {{ e }}>;
    var wdw = 0.0;
    for (var e = 0u; e < E; e++) {
        var acc = dout[o0 + d + e];
        for (var i = 0u; i < d; i++) {
            acc += dout[o0 + i] * ltm[(b * E + e) * d + i];
        }
        ds[e] = acc;
        wdw += forward[o0 + d + e] * acc;
    }
    for (var e = 0u; e < E; e++) {
        ds[e] = forward[o0 + d + e] * (ds[e] - wdw);
        grads[off_ds + row * E + e] = ds[e];
    }
    for (var i = 0u; i < d; i++) {
        var acc = 0.0;
        for (var e = 0u; e < E; e++) {
            acc += ds[e] * ltm[(b * E + e) * d + i];
        }
        grads[row * d + i] = acc * scale;
    }
}
