// Working-memory read, forward (the contract is `dmn::ops::memory_read`):
//
//   s_k = β · cos(q, W_k)          w = softmax over the top_k largest s, 0 elsewhere
//   read = Σ_k w_k W_k
//
// One thread per query row (batch × tokens × heads) holds its query, its K scores and its read
// in registers. The slots stream through workgroup memory in tiles of T, loaded once per
// workgroup instead of once per row. Top-k is a selection of `top_k` maxima (ties go to the
// lower slot index). out = [read (d) ‖ weights (K)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>; // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(3) var<storage, read_write> out: array<f32>;      // [B, R, d + K]
@group(0) @binding(4) var<storage, read_write> sizes: array<u32>;    // R, top_k

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
const D: u32 = {{ d }}u;
const T: u32 = {{ tile }}u; // slots per tile, T · D ≤ 2048 floats
// Added under the square root of norms, as in the reference: an all-zero slot scores 0.
const NORM_EPS2: f32 = 1e-12;

var<workgroup> tile: array<f32, {{ tile_d }}>; // [T, D]
var<workgroup> tile_norm: array<f32, {{ tile }}>;

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let top_k = sizes[1];
    let b = wid.y;
    let r = wid.x * WG + lid.x;
    // Rows past the end still help load tiles (every thread must reach the barriers).
    let row = b * rows + min(r, rows - 1u);

    var q: array<f32, {{ d }}>;
    var qq = 0.0;
    for (var i = 0u; i < D; i++) {
        q[i] = query[row * D + i];
        qq += q[i] * q[i];
    }
    let scale = strength[row] / sqrt(qq + NORM_EPS2);

    var score: array<f32, {{ k }}>;
    for (var k0 = 0u; k0 < K; k0 += T) {
        let tn = min(T, K - k0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = slots[(b * K + k0) * D + i];
        }
        workgroupBarrier();
        for (var t = lid.x; t < tn; t += WG) {
            var ss = 0.0;
            for (var i = 0u; i < D; i++) {
                ss += tile[t * D + i] * tile[t * D + i];
            }
            tile_norm[t] = sqrt(ss + NORM_EPS2);
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            var dot = 0.0;
            for (var i = 0u; i < D; i++) {
                dot += q[i] * tile[t * D + i];
            }
            score[k0 + t] = scale * dot / tile_norm[t];
        }
        workgroupBarrier();
    }

    // Selection of the top_k largest scores (ties to the lower index); only the loop index
    // addresses the arrays, so every access is the same for all threads of a SIMD group.
    var taken: array<bool, {{ k }}>;
    for (var k = 0u; k < K; k++) {
        taken[k] = false;
    }
    var top = 0.0;
    for (var j = 0u; j < top_k; j++) {
        var best = K;
        var best_score = 0.0;
        for (var k = 0u; k < K; k++) {
            if !taken[k] && (best == K || score[k] > best_score) {
                best = k;
                best_score = score[k];
            }
        }
        taken[best] = true;
        if j == 0u {
            top = best_score;
        }
    }
    // Softmax over the selection; from here on `score` holds the weights (0 outside it).
    var total = 0.0;
    for (var k = 0u; k < K; k++) {
        score[k] = select(0.0, exp(score[k] - top), taken[k]);
        total += score[k];
    }
    for (var k = 0u; k < K; k++) {
        score[k] /= total;
    }

    // The read, Σ_k w_k W_k, from the same tiles (dense: cheaper here than gathering the
    // selected slots row by row).
    var read: array<f32, {{ d }}>;
    for (var i = 0u; i < D; i++) {
        read[i] = 0.0;
    }
    for (var k0 = 0u; k0 < K; k0 += T) {
        let tn = min(T, K - k0);
        for (var i = lid.x; i < tn * D; i += WG) {
            tile[i] = slots[(b * K + k0) * D + i];
        }
        workgroupBarrier();
        for (var t = 0u; t < tn; t++) {
            let w = score[k0 + t];
            for (var i = 0u; i < D; i++) {
                read[i] += w * tile[t * D + i];
            }
        }
        workgroupBarrier();
    }
    if r < rows {
        let o0 = row * (D + K);
        for (var i = 0u; i < D; i++) {
            out[o0 + i] = read[i];
        }
        for (var k = 0u; k < K; k++) {
            out[o0 + D + k] = score[k];
        }
    }
}
