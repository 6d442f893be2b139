// Hierarchical retrieval, forward (the contract is `dmn::ops::retrieve`):
//
//   s_e = q · l_e / √d + bias[level(e)]      over valid entries of the level-packed buffer
//   w = softmax(s) (all 0 when no entry is valid),   context = Σ_e w_e l_e
//
// One dispatch covers every level: level i owns entries [i·m, (i+1)·m). One thread per query
// row keeps its query, its E scores and its context in registers; the entries stream through
// workgroup memory in tiles, loaded once per workgroup. out = [context (d) ‖ weights (E)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;      // [B, L, d]
@group(0) @binding(1) var<storage, read_write> ltm: array<f32>;        // [B, E, d]
@group(0) @binding(2) var<storage, read_write> level_bias: array<f32>; // [M]
@group(0) @binding(3) var<storage, read_write> valid: array<f32>;      // [B, E], 1 or 0
@group(0) @binding(4) var<storage, read_write> out: array<f32>;        // [B, L, d + E]
@group(0) @binding(5) var<storage, read_write> sizes: array<u32>;      // L, m

const WG: u32 = {{ wg }}u;
const E: u32 = {{ e }}u;
const D: u32 = {{ d }}u;
const T: u32 = {{ tile }}u; // entries per tile, T · D ≤ 2048 floats
// Score of an invalid entry, as in the reference: exp of it is exactly 0 in f32.
const MASKED: f32 = -1.0e9;

var<workgroup> tile: array<f32, {{ tile_d }}>; // [T, D]

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let per_level = sizes[1];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    // Rows past the end still help load tiles (every thread must reach the barriers).
    let row = b * rows + min(r, rows - 1u);
    let scale = 1.0 / sqrt(f32(D));

    var q: array<f32, {{ d }}>;
    for (var i = 0u; i < D; i++) {
        q[i] = query[row * D + i];
    }
    var score: array<f32, {{ e }}>;
    for (var e0 = 0u; e0 < E; e0 += T) {
        let tn = min(T, E - e0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = ltm[(b * E + e0) * D + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            var dot = 0.0;
            for (var i = 0u; i < D; i++) {
                dot += q[i] * tile[t * D + i];
            }
            score[e0 + t] = dot * scale + level_bias[(e0 + t) / per_level];
        }
        workgroupBarrier();
    }

    var top = MASKED;
    var has_valid = false;
    for (var e = 0u; e < E; e++) {
        if valid[b * E + e] > 0.5 {
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
    // A batch row with no valid entry gets zero weights, as in the reference.
    let keep = select(0.0, 1.0, has_valid);
    for (var e = 0u; e < E; e++) {
        score[e] = exp(score[e] - top) / total * keep; // from here on: the weights
    }

    var context: array<f32, {{ d }}>;
    for (var i = 0u; i < D; i++) {
        context[i] = 0.0;
    }
    for (var e0 = 0u; e0 < E; e0 += T) {
        let tn = min(T, E - e0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = ltm[(b * E + e0) * D + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            let w = score[e0 + t];
            for (var i = 0u; i < D; i++) {
                context[i] += w * tile[t * D + i];
            }
        }
        workgroupBarrier();
    }
    if r < rows {
        let o0 = row * (D + E);
        for (var i = 0u; i < D; i++) {
            out[o0 + i] = context[i];
        }
        for (var e = 0u; e < E; e++) {
            out[o0 + D + e] = score[e];
        }
    }
}
