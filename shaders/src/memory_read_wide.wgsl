// Working-memory read, forward, for rows wider than `memory_read.wgsl` unrolls (the contract is
// `dmn::ops::memory_read`):
//
//   s_k = β · cos(q, W_k)          w = softmax over the top_k largest s, 0 elsewhere
//   read = Σ_k w_k W_k
//
// The same row blocking as `memory_read.wgsl`, with loops instead of unrolled code: unrolled,
// eight rows of a wide query overflow the registers and the shader takes minutes to compile.
// Each thread owns RB = 8 query rows (batch × tokens × heads), packed four to a vec4, with their
// K scores. Each slot value is loaded once per thread and used for all eight rows (and for the
// slot's norm): a load costs far more than an FMA here (on lavapipe every load inside a loop is
// one scalar load per SIMD lane), so the work done per load sets the speed. Top-k is a selection
// of `top_k` maxima (ties go to the lower slot index); the read then gathers only the selected
// slots. out = [read (d) ‖ weights (K)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>; // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;      // [B, R, d + K]
@group(0) @binding(4) var<storage, read_write> sizes: array<u32>;    // R, top_k

const WG: u32 = {{ wg }}u;
const RB: u32 = 8u;
const K: u32 = {{ k }}u;
const D: u32 = {{ d }}u;
// Added under the square root of norms, as in the reference: an all-zero slot scores 0.
const NORM_EPS2: f32 = 1e-12;
// Marks a selected score; below every real score (|s| ≤ β).
const TAKEN: f32 = -3.0e38;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let top_k = sizes[1];
    let b = wid.y;
    let first = (wid.x * WG + lid.x) * RB;
    if first >= rows {
        return;
    }

    // Queries of this thread's rows, four rows per vec4: q_lo[i] = (q_0[i], …, q_3[i]),
    // q_hi[i] the same for rows 4..7. Rows past the end repeat the last.
    var q_lo: array<vec4<f32>, {{ d }}>;
    var q_hi: array<vec4<f32>, {{ d }}>;
    var scale_lo: vec4<f32>;
    var scale_hi: vec4<f32>;
    for (var j = 0u; j < RB; j++) {
        let row = b * rows + min(first + j, rows - 1u);
        var qq = 0.0;
        for (var i = 0u; i < D; i++) {
            let v = query[row * D + i];
            if j < 4u { q_lo[i][j] = v; } else { q_hi[i][j - 4u] = v; }
            qq += v * v;
        }
        let sc = strength[row] / sqrt(qq + NORM_EPS2);
        if j < 4u { scale_lo[j] = sc; } else { scale_hi[j - 4u] = sc; }
    }

    // Scores: one load of each slot value feeds eight dot products and the slot's norm.
    var score_lo: array<vec4<f32>, {{ k }}>;
    var score_hi: array<vec4<f32>, {{ k }}>;
    for (var k = 0u; k < K; k++) {
        var dot_lo = vec4<f32>(0.0);
        var dot_hi = vec4<f32>(0.0);
        var ss = 0.0;
        let s0 = (b * K + k) * D;
        for (var i = 0u; i < D; i++) {
            let w = slots[s0 + i];
            ss += w * w;
            dot_lo += q_lo[i] * w;
            dot_hi += q_hi[i] * w;
        }
        let inv_norm = 1.0 / sqrt(ss + NORM_EPS2);
        score_lo[k] = scale_lo * dot_lo * inv_norm;
        score_hi[k] = scale_hi * dot_hi * inv_norm;
    }
    var score: array<f32, {{ rows_k }}>; // [RB, K]
    for (var k = 0u; k < K; k++) {
        for (var j = 0u; j < 4u; j++) {
            score[j * K + k] = score_lo[k][j];
            score[(j + 4u) * K + k] = score_hi[k][j];
        }
    }

    for (var j = 0u; j < RB; j++) {
        let r = first + j;
        if r >= rows {
            break;
        }
        let row = b * rows + r;
        let o0 = row * (D + K);
        // Selection of the top_k largest scores, ties to the lower index: each pass takes the
        // first maximum and marks it TAKEN.
        var pick: array<u32, {{ k }}>;
        var picked: array<f32, {{ k }}>;
        for (var t = 0u; t < top_k; t++) {
            var best = 0u;
            var best_score = TAKEN;
            for (var k = 0u; k < K; k++) {
                let s = score[j * K + k];
                if s > best_score {
                    best = k;
                    best_score = s;
                }
            }
            pick[t] = best;
            picked[t] = best_score;
            score[j * K + best] = TAKEN;
        }
        // Softmax over the selection (picked[0] is the largest), written into the dense row.
        let top = picked[0];
        var total = 0.0;
        for (var t = 0u; t < top_k; t++) {
            picked[t] = exp(picked[t] - top);
            total += picked[t];
        }
        for (var k = 0u; k < K; k++) {
            out[o0 + D + k] = 0.0;
        }
        for (var t = 0u; t < top_k; t++) {
            picked[t] /= total;
            out[o0 + D + pick[t]] = picked[t];
        }
        // The read gathers the selected slots only.
        var read: array<f32, {{ d }}>;
        for (var i = 0u; i < D; i++) {
            read[i] = 0.0;
        }
        for (var t = 0u; t < top_k; t++) {
            let w = picked[t];
            let s0 = (b * K + pick[t]) * D;
            for (var i = 0u; i < D; i++) {
                read[i] += w * slots[s0 + i];
            }
        }
        for (var i = 0u; i < D; i++) {
            out[o0 + i] = read[i];
        }
    }
}
