// Hierarchical retrieval, forward (the contract is `dmn::ops::retrieve`):
//
//   s_e = q · l_e / √d + bias[level(e)]      over valid entries of the level-packed buffer
//   w = softmax(s) (all 0 when no entry is valid),   context = Σ_e w_e l_e
//
// One dispatch covers every level: level i owns entries [i·m, (i+1)·m). Each thread owns
// RB = 8 query rows, packed four to a vec4, so that each entry value is loaded once per thread
// and used for eight rows (as in `memory_read.wgsl`: loads, not FMAs, set the speed).
// out = [context (d) ‖ weights (E)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;      // [B, L, d]
@group(0) @binding(1) var<storage, read_write> ltm: array<f32>;        // [B, E, d]
@group(0) @binding(2) var<storage, read_write> level_bias: array<f32>; // [M]
@group(0) @binding(3) var<storage, read_write> valid: array<f32>;      // [B, E], 1 or 0
@group(0) @binding(4) var<storage, read_write> out: array<f32>;        // [B, L, d + E]
@group(0) @binding(5) var<storage, read> sizes: array<u32>;           // L, m

const WG: u32 = {{ wg }}u;
const RB: u32 = 8u;
const E: u32 = {{ e }}u;
const D: u32 = {{ d }}u;
// Score of an invalid entry, as in the reference: exp of it is exactly 0 in f32.
const MASKED: f32 = -1.0e9;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let per_level = sizes[1];
    let b = wid.y;
    let first = (wid.x * WG + lid.x) * RB;
    if first >= rows {
        return;
    }
    let scale = 1.0 / sqrt(f32(D));

    // q_lo[i] = (q_0[i], …, q_3[i]), q_hi[i] the same for rows 4..7; rows past the end repeat
    // the last.
    var q_lo: array<vec4<f32>, {{ d }}>;
    var q_hi: array<vec4<f32>, {{ d }}>;
    for (var j = 0u; j < RB; j++) {
        let row = b * rows + min(first + j, rows - 1u);
        for (var i = 0u; i < D; i++) {
            let v = query[row * D + i] * scale;
            if j < 4u { q_lo[i][j] = v; } else { q_hi[i][j - 4u] = v; }
        }
    }

    // Scores of the eight rows against every entry; one load of each entry value feeds eight
    // dot products. Invalid entries score MASKED.
    var score_lo: array<vec4<f32>, {{ e }}>;
    var score_hi: array<vec4<f32>, {{ e }}>;
    var top_lo = vec4<f32>(MASKED);
    var top_hi = vec4<f32>(MASKED);
    var has_valid = false;
    for (var e = 0u; e < E; e++) {
        var dot_lo = vec4<f32>(0.0);
        var dot_hi = vec4<f32>(0.0);
        let l0 = (b * E + e) * D;
        for (var i = 0u; i < D; i++) {
            let v = ltm[l0 + i];
            dot_lo += q_lo[i] * v;
            dot_hi += q_hi[i] * v;
        }
        let bias = level_bias[e / per_level];
        if valid[b * E + e] > 0.5 {
            has_valid = true;
            score_lo[e] = dot_lo + bias;
            score_hi[e] = dot_hi + bias;
        } else {
            score_lo[e] = vec4<f32>(MASKED);
            score_hi[e] = vec4<f32>(MASKED);
        }
        top_lo = max(top_lo, score_lo[e]);
        top_hi = max(top_hi, score_hi[e]);
    }

    // Softmax per row; a batch row with no valid entry gets zero weights, as in the reference.
    var total_lo = vec4<f32>(0.0);
    var total_hi = vec4<f32>(0.0);
    for (var e = 0u; e < E; e++) {
        score_lo[e] = exp(score_lo[e] - top_lo);
        score_hi[e] = exp(score_hi[e] - top_hi);
        total_lo += score_lo[e];
        total_hi += score_hi[e];
    }
    let keep = select(0.0, 1.0, has_valid);
    let norm_lo = keep / total_lo;
    let norm_hi = keep / total_hi;

    // Context: again one load of each entry value for eight rows.
    var context_lo: array<vec4<f32>, {{ d }}>;
    var context_hi: array<vec4<f32>, {{ d }}>;
    for (var e = 0u; e < E; e++) {
        score_lo[e] *= norm_lo; // from here on: the weights
        score_hi[e] *= norm_hi;
        let w_lo = score_lo[e];
        let w_hi = score_hi[e];
        let l0 = (b * E + e) * D;
        for (var i = 0u; i < D; i++) {
            let v = ltm[l0 + i];
            context_lo[i] += w_lo * v;
            context_hi[i] += w_hi * v;
        }
    }

    for (var j = 0u; j < RB; j++) {
        let r = first + j;
        if r >= rows {
            break;
        }
        let o0 = (b * rows + r) * (D + E);
        for (var i = 0u; i < D; i++) {
            out[o0 + i] = select(context_hi[i][j - 4u], context_lo[i][j], j < 4u);
        }
        for (var e = 0u; e < E; e++) {
            out[o0 + D + e] = select(score_hi[e][j - 4u], score_lo[e][j], j < 4u);
        }
    }
}
