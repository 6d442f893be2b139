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
// one scalar load per SIMD lane), so the work done per load sets the speed. Top-k is the
// selection of `common.wgsl`, row by row; the read then gathers only the selected slots.
// out = [read (d) ‖ weights (K)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>; // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;      // [B, R, d + K]
@group(0) @binding(4) var<storage, read> sizes: array<u32>;         // R, top_k

const WG: u32 = {{ wg }}u;
const RB: u32 = 8u;
const K: u32 = {{ k }}u;
const D: u32 = {{ d }}u;

//#use cosine select

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
        let sc = strength[row] / norm(qq);
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
        let w_norm = norm(ss);
        score_lo[k] = scaled_cosine4(scale_lo, dot_lo, w_norm);
        score_hi[k] = scaled_cosine4(scale_hi, dot_hi, w_norm);
    }

    for (var j = 0u; j < RB; j++) {
        let r = first + j;
        if r >= rows {
            break;
        }
        let row = b * rows + r;
        let o0 = row * (D + K);
        var score: array<f32, {{ k }}>;
        for (var k = 0u; k < K; k++) {
            score[k] = select(score_hi[k][j % 4u], score_lo[k][j % 4u], j < 4u);
        }
        var pick: array<u32, {{ k }}>;
        let total = select_top_k(&score, top_k, &pick);
        // Softmax over the selection (pick[0] is the largest), written into the dense row.
        let top = score[pick[0]];
        var picked: array<f32, {{ k }}>;
        for (var k = 0u; k < K; k++) {
            out[o0 + D + k] = 0.0;
        }
        for (var t = 0u; t < top_k; t++) {
            picked[t] = exp(score[pick[t]] - top) / total;
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
