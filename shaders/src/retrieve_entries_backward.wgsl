// Hierarchical retrieval, backward, per long-term entry: its gradient, a sum over query rows,
// and its share of the level-bias gradient.
//
//   dl_e = Σ_r (w_re dcontext_r + ds_re q_r / √d)        dbias_e = Σ_r ds_re
//
// One workgroup per (batch, block of EB entries), its threads over the d values. Each thread
// keeps EB accumulators per value, so one load of a row's dcontext and q values feeds 2·EB
// FMAs (loads, not FMAs, set the speed). The launcher adds the dbias shares of each level.

@group(0) @binding(0) var<storage, read_write> query: array<f32>;   // [B, L, d]
@group(0) @binding(1) var<storage, read_write> forward: array<f32>; // [B, L, d + E]
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;    // [B, L, d + E]
@group(0) @binding(3) var<storage, read_write> rowgrads: array<f32>; // from the row kernel
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;   // dl [B, E, d] ‖ dbias [B, E]
@group(0) @binding(5) var<storage, read_write> sizes: array<u32>;   // L, d, offset of ds, offset of dbias

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;
const EB: u32 = {{ eb }}u;   // entries per workgroup
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
    let e0 = wid.x * EB;
    let en = min(EB, E - e0);
    let b = wid.y;
    let scale = 1.0 / sqrt(f32(d));

    var acc: array<f32, {{ eb_per }}>; // [EB, PER]
    var dbias: array<f32, {{ eb }}>;
    var w: array<f32, {{ eb }}>;
    var ds: array<f32, {{ eb }}>;
    for (var r = 0u; r < rows; r++) {
        let row = b * rows + r;
        for (var t = 0u; t < en; t++) {
            w[t] = forward[row * (d + E) + d + e0 + t];
            ds[t] = rowgrads[off_ds + row * E + e0 + t];
            dbias[t] += ds[t];
        }
        for (var p = 0u; p < PER; p++) {
            let i = lid.x + p * WG;
            if i < d {
                let dc = dout[row * (d + E) + i];
                let q = query[row * d + i] * scale;
                for (var t = 0u; t < en; t++) {
                    acc[t * PER + p] += w[t] * dc + ds[t] * q;
                }
            }
        }
    }
    for (var t = 0u; t < en; t++) {
        for (var p = 0u; p < PER; p++) {
            let i = lid.x + p * WG;
            if i < d {
                grads[(b * E + e0 + t) * d + i] = acc[t * PER + p];
            }
        }
        if lid.x == 0u {
            grads[off_dbias + b * E + e0 + t] = dbias[t];
        }
    }
}
