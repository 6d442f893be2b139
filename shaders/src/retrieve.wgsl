// Hierarchical retrieval, forward (the contract is `dmn::ops::retrieve`):
//
//   s_e = q · l_e / √d + bias[level(e)]      over valid entries of the level-packed buffer
//   w = softmax(s) (all 0 when no entry is valid),   context = Σ_e w_e l_e
//
// One dispatch covers every level: level i owns entries [i·m, (i+1)·m). One thread per query
// row keeps the E scores in registers. out = [context (d) ‖ weights (E)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;      // [B, L, d]
@group(0) @binding(1) var<storage, read_write> ltm: array<f32>;        // [B, E, d]
@group(0) @binding(2) var<storage, read_write> level_bias: array<f32>; // [M]
@group(0) @binding(3) var<storage, read_write> valid: array<f32>;      // [B, E], 1 or 0
@group(0) @binding(4) var<storage, read_write> out: array<f32>;        // [B, L, d + E]
@group(0) @binding(5) var<storage, read_write> sizes: array<u32>;      // L, d, m

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;
// Score of an invalid entry, as in the reference: exp of it is exactly 0 in f32.
const MASKED: f32 = -1.0e9;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let d = sizes[1];
    let per_level = sizes[2];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    if r >= rows {
        return;
    }
    let row = b * rows + r;
    let scale = 1.0 / sqrt(f32(d));

    var score: array<f32, {{ e }}>;
    var top = MASKED;
    var has_valid = false;
    for (var e = 0u; e < E; e++) {
        if valid[b * E + e] > 0.5 {
            var dot = 0.0;
            for (var i = 0u; i < d; i++) {
                dot += query[row * d + i] * ltm[(b * E + e) * d + i];
            }
            score[e] = dot * scale + level_bias[e / per_level];
            has_valid = true;
        } else {
            score[e] = MASKED;
        }
        top = max(top, score[e]);
    }
    var total = 0.0;
    for (var e = 0u; e < E; e++) {
        total += exp(score[e] - top);
    }
    let o0 = row * (d + E);
    let keep = select(0.0, 1.0, has_valid);
    for (var e = 0u; e < E; e++) {
        out[o0 + d + e] = exp(score[e] - top) / total * keep;
    }
    for (var i = 0u; i < d; i++) {
        var acc = 0.0;
        for (var e = 0u; e < E; e++) {
            acc += out[o0 + d + e] * ltm[(b * E + e) * d + i];
        }
        out[o0 + i] = acc;
    }
}
