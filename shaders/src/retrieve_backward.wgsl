// Hierarchical retrieval, backward, per query row: the query gradient and the score gradients
// the entry kernel (`retrieve_entries_backward.wgsl`) sums over rows.
//
//   dw_e = dweights_e + dcontext · l_e,     ds_e = w_e (dw_e − Σ_j w_j dw_j)
//   dq   = Σ_e ds_e l_e / √d
//
// Invalid entries have w = 0, hence ds = 0: no gradient reaches them. Row-blocked as the
// forward pass: each thread owns RB = 8 query rows, packed four to a vec4, so each entry value
// is loaded once per thread and used for eight rows.

@group(0) @binding(0) var<storage, read_write> ltm: array<f32>;     // [B, E, d]
@group(0) @binding(1) var<storage, read_write> forward: array<f32>; // [B, L, d + E]
@group(0) @binding(2) var<storage, read_write> dout: array<f32>;    // [B, L, d + E]
@group(0) @binding(3) var<storage, read_write> grads: array<f32>;   // dq [B, L, d] ‖ ds [B, L, E]
@group(0) @binding(4) var<storage, read_write> sizes: array<u32>;   // L, offset of ds

const WG: u32 = {{ wg }}u;
const RB: u32 = 8u;
const E: u32 = {{ e }}u;
const D: u32 = {{ d }}u;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let off_ds = sizes[1];
    let b = wid.y;
    let first = (wid.x * WG + lid.x) * RB;
    if first >= rows {
        return;
    }
    let scale = 1.0 / sqrt(f32(D));

    // Offsets of the eight rows in forward/dout; rows past the end repeat the last.
    var o: array<u32, 8>;
    for (var j = 0u; j < RB; j++) {
        o[j] = (b * rows + min(first + j, rows - 1u)) * (D + E);
    }
    var dc_lo: array<vec4<f32>, {{ d }}>;
    var dc_hi: array<vec4<f32>, {{ d }}>;
    for (var i = 0u; i < D; i++) {
        dc_lo[i] = vec4<f32>(dout[o[0] + i], dout[o[1] + i], dout[o[2] + i], dout[o[3] + i]);
        dc_hi[i] = vec4<f32>(dout[o[4] + i], dout[o[5] + i], dout[o[6] + i], dout[o[7] + i]);
    }

    // dw_e = dweights_e + dcontext · l_e; one load of each entry value feeds eight rows.
    var ds_lo: array<vec4<f32>, {{ e }}>;
    var ds_hi: array<vec4<f32>, {{ e }}>;
    var w_lo: array<vec4<f32>, {{ e }}>;
    var w_hi: array<vec4<f32>, {{ e }}>;
    var wdw_lo = vec4<f32>(0.0);
    var wdw_hi = vec4<f32>(0.0);
    for (var e = 0u; e < E; e++) {
        var acc_lo = vec4<f32>(0.0);
        var acc_hi = vec4<f32>(0.0);
        let l0 = (b * E + e) * D;
        for (var i = 0u; i < D; i++) {
            let v = ltm[l0 + i];
            acc_lo += dc_lo[i] * v;
            acc_hi += dc_hi[i] * v;
        }
        let c = D + e;
        ds_lo[e] = acc_lo + vec4<f32>(dout[o[0] + c], dout[o[1] + c], dout[o[2] + c], dout[o[3] + c]);
        ds_hi[e] = acc_hi + vec4<f32>(dout[o[4] + c], dout[o[5] + c], dout[o[6] + c], dout[o[7] + c]);
        w_lo[e] = vec4<f32>(forward[o[0] + c], forward[o[1] + c], forward[o[2] + c], forward[o[3] + c]);
        w_hi[e] = vec4<f32>(forward[o[4] + c], forward[o[5] + c], forward[o[6] + c], forward[o[7] + c]);
        wdw_lo += w_lo[e] * ds_lo[e];
        wdw_hi += w_hi[e] * ds_hi[e];
    }

    // ds_e = w_e (dw_e − Σ w dw), then dq = Σ_e ds_e l_e / √d, again eight rows per load.
    var dq_lo: array<vec4<f32>, {{ d }}>;
    var dq_hi: array<vec4<f32>, {{ d }}>;
    for (var e = 0u; e < E; e++) {
        ds_lo[e] = w_lo[e] * (ds_lo[e] - wdw_lo);
        ds_hi[e] = w_hi[e] * (ds_hi[e] - wdw_hi);
        let s_lo = ds_lo[e];
        let s_hi = ds_hi[e];
        let l0 = (b * E + e) * D;
        for (var i = 0u; i < D; i++) {
            let v = ltm[l0 + i];
            dq_lo[i] += s_lo * v;
            dq_hi[i] += s_hi * v;
        }
    }

    for (var j = 0u; j < RB; j++) {
        let r = first + j;
        if r >= rows {
            break;
        }
        let row = b * rows + r;
        for (var e = 0u; e < E; e++) {
            grads[off_ds + row * E + e] = select(ds_hi[e][j - 4u], ds_lo[e][j], j < 4u);
        }
        for (var i = 0u; i < D; i++) {
            grads[row * D + i] = select(dq_hi[i][j - 4u], dq_lo[i][j], j < 4u) * scale;
        }
    }
}
