// Working-memory read, forward (the contract is `dmn::ops::memory_read`):
//
//   s_k = β · cos(q, W_k)          w = softmax over the top_k largest s, 0 elsewhere
//   read = Σ_k w_k W_k
//
// One thread per query row (batch × tokens × heads). The K scores stay in registers; top-k is a
// selection of `top_k` maxima (ties go to the lower slot index), so the read touches only the
// selected slots. Weights and read are written side by side: out = [read (d) ‖ weights (K)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>; // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;      // [B, R, d + K]
@group(0) @binding(4) var<storage, read_write> sizes: array<u32>;    // R, d, top_k

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
// Added under the square root of norms, as in the reference: an all-zero slot scores 0.
const NORM_EPS2: f32 = 1e-12;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let d = sizes[1];
    let top_k = sizes[2];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    if r >= rows {
        return;
    }
    let q0 = (b * rows + r) * d;
    let s0 = b * K * d;

    var qq = 0.0;
    for (var i = 0u; i < d; i++) {
        qq += query[q0 + i] * query[q0 + i];
    }
    let beta = strength[b * rows + r];
    let qnorm = sqrt(qq + NORM_EPS2);
    var score: array<f32, {{ k }}>;
    for (var k = 0u; k < K; k++) {
        var dot = 0.0;
        var ss = 0.0;
        for (var i = 0u; i < d; i++) {
            let s = slots[s0 + k * d + i];
            dot += query[q0 + i] * s;
            ss += s * s;
        }
        score[k] = beta / qnorm * dot / sqrt(ss + NORM_EPS2);
    }

    // Selection of the top_k largest scores, largest first.
    var chosen: array<u32, {{ k }}>;
    var taken: array<bool, {{ k }}>;
    for (var k = 0u; k < K; k++) {
        taken[k] = false;
    }
    for (var j = 0u; j < top_k; j++) {
        var best = K;
        for (var k = 0u; k < K; k++) {
            if !taken[k] && (best == K || score[k] > score[best]) {
                best = k;
            }
        }
        taken[best] = true;
        chosen[j] = best;
    }

    // Softmax over the selection; the first chosen score is the largest.
    let top = score[chosen[0]];
    var total = 0.0;
    for (var j = 0u; j < top_k; j++) {
        total += exp(score[chosen[j]] - top);
    }
    let o0 = (b * rows + r) * (d + K);
    for (var k = 0u; k < K; k++) {
        out[o0 + d + k] = 0.0;
    }
    for (var j = 0u; j < top_k; j++) {
        out[o0 + d + chosen[j]] = exp(score[chosen[j]] - top) / total;
    }
    for (var i = 0u; i < d; i++) {
        var acc = 0.0;
        for (var j = 0u; j < top_k; j++) {
            acc += out[o0 + d + chosen[j]] * slots[s0 + chosen[j] * d + i];
        }
        out[o0 + i] = acc;
    }
}
