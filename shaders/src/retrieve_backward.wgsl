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
@group(0) @binding(4) var<storage, read> sizes: array<u32>;        // L, offset of ds

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;
const D: u32 = {{ d }}u;
const T: u32 = {{ tile }}u; // entries per tile, as in the forward pass

var<workgroup> tile: array<f32, {{ tile_d }}>; // [T, D]

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let off_ds = sizes[1];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    let row = b * rows + min(r, rows - 1u);
    let o0 = row * (D + E);
    let scale = 1.0 / sqrt(f32(D));

    var dcontext: array<f32, {{ d }}>;
    var dq: array<f32, {{ d }}>;
    for (var i = 0u; i < D; i++) {
        dcontext[i] = dout[o0 + i];
        dq[i] = 0.0;
    }
    // dw_e = dweights_e + dcontext · l_e
    var ds: array<f32, {{ e }}>;
    for (var e0 = 0u; e0 < E; e0 += T) {
        let tn = min(T, E - e0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = ltm[(b * E + e0) * D + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            var acc = dout[o0 + D + e0 + t];
            for (var i = 0u; i < D; i++) {
                acc += dcontext[i] * tile[t * D + i];
            }
            ds[e0 + t] = acc;
        }
        workgroupBarrier();
    }
    var wdw = 0.0;
    for (var e = 0u; e < E; e++) {
        wdw += forward[o0 + D + e] * ds[e];
    }
    for (var e = 0u; e < E; e++) {
        ds[e] = forward[o0 + D + e] * (ds[e] - wdw);
    }
    // dq = Σ_e ds_e l_e / √d
    for (var e0 = 0u; e0 < E; e0 += T) {
        let tn = min(T, E - e0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = ltm[(b * E + e0) * D + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            for (var i = 0u; i < D; i++) {
                dq[i] += ds[e0 + t] * tile[t * D + i];
            }
        }
        workgroupBarrier();
    }
    if r < rows {
        for (var e = 0u; e < E; e++) {
            grads[off_ds + row * E + e] = ds[e];
        }
        for (var i = 0u; i < D; i++) {
            grads[row * D + i] = dq[i] * scale;
        }
    }
}
