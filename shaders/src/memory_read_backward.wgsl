// Working-memory read, backward, per query row: gradients of the query and the key strength,
// and the coefficients the slot gradient needs (`memory_read_slots_backward.wgsl`).
//
// With c_k = cos(q, W_k), s = β c, w = top_k softmax(s), read = Σ w_k W_k, over the selection:
//
//   dw_k = dweights_k + dread · W_k
//   ds_k = w_k (dw_k − Σ_j w_j dw_j)                     (0 outside the selection)
//   dβ   = Σ_k ds_k c_k          dc_k = β ds_k
//   dq   = (g − q̂ (q̂ · g)) / ‖q‖,   g = Σ_k dc_k Ŵ_k      (x̂ = x / ‖x‖)
//
// Gradients flow only through the selected slots: the others have weight exactly 0.

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>; // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(3) var<storage, read_write> dout: array<f32>;     // [B, R, d + K]
// dq [B, R, d] ‖ dβ [B, R] ‖ dc [B, R, K] ‖ ‖q‖ [B, R]
@group(0) @binding(4) var<storage, read_write> grads: array<f32>;
// R, top_k, then the offsets of dβ, dc and ‖q‖ in `grads`
@group(0) @binding(5) var<storage, read> sizes: array<u32>;

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
const D: u32 = {{ d }}u;
const T: u32 = {{ tile }}u; // slots per tile

var<workgroup> tile: array<f32, {{ tile_d }}>; // [T, D]
var<workgroup> tile_norm: array<f32, {{ tile }}>;

//#use cosine select

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let top_k = sizes[1];
    let off_dbeta = sizes[2];
    let off_dc = sizes[3];
    let off_qnorm = sizes[4];
    let d = D;
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    let row = b * rows + min(r, rows - 1u);
    let q0 = row * d;
    let s0 = b * K * d;

    // The forward pass again (same sums, same expressions): scores, cosines, slot norms.
    var q: array<f32, {{ d }}>;
    var qq = 0.0;
    for (var i = 0u; i < D; i++) {
        q[i] = query[q0 + i];
        qq += q[i] * q[i];
    }
    let qnorm = norm(qq);
    let beta = strength[row];
    let scale = beta / qnorm;
    var score: array<f32, {{ k }}>;
    var cosine: array<f32, {{ k }}>;
    var slot_norm: array<f32, {{ k }}>;
    for (var k0 = 0u; k0 < K; k0 += T) {
        let tn = min(T, K - k0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = slots[s0 + k0 * D + i];
        }
        workgroupBarrier();
        for (var t = lid.x; t < tn; t += WG) {
            var ss = 0.0;
            for (var i = 0u; i < D; i++) {
                ss += tile[t * D + i] * tile[t * D + i];
            }
            tile_norm[t] = norm(ss);
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            var dot = 0.0;
            for (var i = 0u; i < D; i++) {
                dot += q[i] * tile[t * D + i];
            }
            score[k0 + t] = scaled_cosine(scale, dot, tile_norm[t]);
            cosine[k0 + t] = dot / (qnorm * tile_norm[t]);
            slot_norm[k0 + t] = tile_norm[t];
        }
        workgroupBarrier();
    }
    if r >= rows {
        return;
    }
    var chosen: array<u32, {{ k }}>;
    let total = select_top_k(&score, top_k, &chosen);
    let top = score[chosen[0]];

    // dw and the softmax backward, over the selection.
    let o0 = row * (d + K);
    var w: array<f32, {{ k }}>;
    var dw: array<f32, {{ k }}>;
    var wdw = 0.0;
    for (var j = 0u; j < top_k; j++) {
        let k = chosen[j];
        w[j] = exp(score[k] - top) / total;
        var acc = dout[o0 + d + k];
        for (var i = 0u; i < d; i++) {
            acc += dout[o0 + i] * slots[s0 + k * d + i];
        }
        dw[j] = acc;
        wdw += w[j] * acc;
    }
    var dbeta = 0.0;
    for (var k = 0u; k < K; k++) {
        grads[off_dc + row * K + k] = 0.0;
    }
    for (var j = 0u; j < top_k; j++) {
        let ds = w[j] * (dw[j] - wdw);
        dbeta += ds * cosine[chosen[j]];
        // Reused: from here on dw holds dc.
        dw[j] = beta * ds;
        grads[off_dc + row * K + chosen[j]] = dw[j];
    }
    grads[off_dbeta + row] = dbeta;
    grads[off_qnorm + row] = qnorm;

    // dq = (g − q̂ (q̂ · g)) / ‖q‖ with g_i = Σ_j dc_j W_ji / ‖W_j‖.
    var qg = 0.0;
    for (var i = 0u; i < d; i++) {
        var g = 0.0;
        for (var j = 0u; j < top_k; j++) {
            g += dw[j] * slots[s0 + chosen[j] * d + i] / slot_norm[chosen[j]];
        }
        qg += q[i] / qnorm * g;
        grads[q0 + i] = g;
    }
    for (var i = 0u; i < d; i++) {
        grads[q0 + i] = (grads[q0 + i] - q[i] / qnorm * qg) / qnorm;
    }
}
