// Hierarchical retrieval, backward, per long-term entry: its gradient, a sum over query rows,
// and its share of the level-bias gradient.
//
//   dl_e = Σ_r (w_re dcontext_r + ds_re q_r / √d)        dbias_e = Σ_r ds_re
//
// One workgroup per (batch, entry), its threads over the entry's d values; the launcher adds
// the dbias shares of each level together.

@group(0) @binding(0) var<storage, read_write> query: array<f32>;   // [B, L, d]
@group(0) @binding(1) var<storage, read_write> forward: array<f32>; // [B, L, d + E]
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;    // [B, L, d + E]
@group(0) @binding(3) var<storage, read_write> rowgrads: array<f32>; // from the row kernel
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;   // dl [B, E, d] ‖ dbias [B, E]
@group(0) @binding(5) var<storage, read> sizes: array<u32>;        // L, d, offset of ds, offset of dbias

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;
const PER: u32 = {{ per }}u; // ⌈d / WG⌉ values per thread

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let d = sizes[1];
    let off_ds = sizes[2];
    let off_dbias = sizes[3];
    let e = wid.x;
    let b = wid.y;
    let scale = 1.0 / sqrt(f32(d));

    var acc: array<f32, {{ per }}>;
    for (var p = 0u; p < PER; p++) {
        acc[p] = 0.0;
    }
    var dbias = 0.0;
    for (var r = 0u; r < rows; r++) {
        let row = b * rows + r;
        let w = forward[row * (d + E) + d + e];
        let ds = rowgrads[off_ds + row * E + e];
        dbias += ds;
        if w == 0.0 && ds == 0.0 {
            continue;
        }
        for (var p = 0u; p < PER; p++) {
            let i = lid.x + p * WG;
            if i < d {
                acc[p] += w * dout[row * (d + E) + i] + ds * scale * query[row * d + i];
            }
        }
    }
    for (var p = 0u; p < PER; p++) {
        let i = lid.x + p * WG;
        if i < d {
            grads[(b * E + e) * d + i] = acc[p];
        }
    }
    if lid.x == 0u {
        grads[off_dbias + b * E + e] = dbias;
    }
}
