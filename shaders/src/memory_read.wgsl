// Working-memory read, forward (the contract is `dmn::ops::memory_read`):
//
//   s_k = β · cos(q, W_k)          w = softmax over the top_k largest s, 0 elsewhere
//   read = Σ_k w_k W_k
//
// Each thread owns RB = 8 query rows (batch × tokens × heads), packed four to a vec4, with their
// K scores. Each slot value is loaded once per thread and used for all eight rows (and for the
// slot's norm): a load costs far more than an FMA here, so the work done per load sets the
// speed. Slots are read as vec4 (rows padded to D4 · 4 by the launcher), and every loop over
// the width is unrolled (`//#unroll`): the queries and the read then live in registers, where a
// loop-indexed private array would be gathered from memory on every access (lavapipe) or spilled
// (GPUs).
//
// Top-k is the selection of `common.wgsl` (part `select`), eight rows at a time: pass t takes
// the best slot after pass t-1's pick in the order (score descending, slot ascending), and the
// pick of the last pass is the threshold. The read then gathers only the selected slots.
// out = [read (d) ‖ weights (K)].

@group(0) @binding(0) var<storage, read_write> query: array<f32>;       // [B, R, d]
@group(0) @binding(1) var<storage, read_write> strength: array<f32>;    // [B, R]
@group(0) @binding(2) var<storage, read_write> slots: array<vec4<f32>>; // [B, K, D4] (zero-padded)
@group(0) @binding(3) var<storage, read_write> out: array<f32>;         // [B, R, d + K]
@group(0) @binding(4) var<storage, read> sizes: array<u32>;            // R, top_k

const WG: u32 = {{ wg }}u;
const RB: u32 = 8u;
const K: u32 = {{ k }}u;
const D: u32 = {{ d }}u;
const D4: u32 = {{ d4 }}u;

//#use cosine select

// Element i of the query row starting at `at`, 0 past the width (i is a constant once unrolled,
// so the test folds away).
fn q_at(at: u32, i: u32) -> f32 {
    if i < D {
        return query[at + i];
    }
    return 0.0;
}

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

    // This thread's rows; rows past the end repeat the last: their weights rewrite the last row's
    // with equal values, and their reads are skipped.
    let last = rows - 1u;
    let row_lo = b * rows + vec4<u32>(min(first, last), min(first + 1u, last),
                                      min(first + 2u, last), min(first + 3u, last));
    let row_hi = b * rows + vec4<u32>(min(first + 4u, last), min(first + 5u, last),
                                      min(first + 6u, last), min(first + 7u, last));

    // q_lo[i] = (q_0[i], …, q_3[i]), q_hi[i] the same for rows 4..7; zero past the width.
    var q_lo: array<vec4<f32>, {{ d_pad }}>;
    var q_hi: array<vec4<f32>, {{ d_pad }}>;
    var qq_lo = vec4<f32>(0.0);
    var qq_hi = vec4<f32>(0.0);
    //#unroll i d_pad
    q_lo[{i}] = vec4<f32>(q_at(row_lo.x * D, {i}u), q_at(row_lo.y * D, {i}u),
                          q_at(row_lo.z * D, {i}u), q_at(row_lo.w * D, {i}u));
    q_hi[{i}] = vec4<f32>(q_at(row_hi.x * D, {i}u), q_at(row_hi.y * D, {i}u),
                          q_at(row_hi.z * D, {i}u), q_at(row_hi.w * D, {i}u));
    qq_lo += q_lo[{i}] * q_lo[{i}];
    qq_hi += q_hi[{i}] * q_hi[{i}];
    //#end
    let beta_lo = vec4<f32>(strength[row_lo.x], strength[row_lo.y], strength[row_lo.z], strength[row_lo.w]);
    let beta_hi = vec4<f32>(strength[row_hi.x], strength[row_hi.y], strength[row_hi.z], strength[row_hi.w]);
    let scale_lo = beta_lo / sqrt(qq_lo + NORM_EPS2);
    let scale_hi = beta_hi / sqrt(qq_hi + NORM_EPS2);

    // Scores: one load of each slot vec4 feeds eight dot products and the slot's norm.
    var score_lo: array<vec4<f32>, {{ k }}>;
    var score_hi: array<vec4<f32>, {{ k }}>;
    for (var k = 0u; k < K; k++) {
        let s0 = (b * K + k) * D4;
        var dot_lo = vec4<f32>(0.0);
        var dot_hi = vec4<f32>(0.0);
        var ss = 0.0;
        //#unroll g d4
        {
            // One element at a time, in order: the sums round as the reference's do.
            let w = slots[s0 + {g}u];
            ss += w.x * w.x;
            dot_lo += q_lo[4u * {g}u] * w.x;
            dot_hi += q_hi[4u * {g}u] * w.x;
            ss += w.y * w.y;
            dot_lo += q_lo[4u * {g}u + 1u] * w.y;
            dot_hi += q_hi[4u * {g}u + 1u] * w.y;
            ss += w.z * w.z;
            dot_lo += q_lo[4u * {g}u + 2u] * w.z;
            dot_hi += q_hi[4u * {g}u + 2u] * w.z;
            ss += w.w * w.w;
            dot_lo += q_lo[4u * {g}u + 3u] * w.w;
            dot_hi += q_hi[4u * {g}u + 3u] * w.w;
        }
        //#end
        let w_norm = norm(ss);
        score_lo[k] = scaled_cosine4(scale_lo, dot_lo, w_norm);
        score_hi[k] = scaled_cosine4(scale_hi, dot_hi, w_norm);
    }

    // Selection, eight rows at a time: pass t picks the best (s, k) after the previous pick.
    var pick_lo: array<vec4<u32>, {{ k }}>;
    var pick_hi: array<vec4<u32>, {{ k }}>;
    var at_lo = vec4<f32>(HIGHEST);
    var at_hi = vec4<f32>(HIGHEST);
    var at_k_lo = vec4<u32>(0u);
    var at_k_hi = vec4<u32>(0u);
    var top_lo = vec4<f32>(0.0);
    var top_hi = vec4<f32>(0.0);
    var total_lo = vec4<f32>(0.0);
    var total_hi = vec4<f32>(0.0);
    for (var t = 0u; t < top_k; t++) {
        var best_lo = vec4<f32>(LOWEST);
        var best_hi = vec4<f32>(LOWEST);
        var best_k_lo = vec4<u32>(0u);
        var best_k_hi = vec4<u32>(0u);
        for (var k = 0u; k < K; k++) {
            let s_lo = score_lo[k];
            let s_hi = score_hi[k];
            // After the previous pick, and strictly better than the best so far (so the lowest
            // slot wins a tie).
            let take_lo = !before_or_at4(s_lo, k, at_lo, at_k_lo) & (s_lo > best_lo);
            let take_hi = !before_or_at4(s_hi, k, at_hi, at_k_hi) & (s_hi > best_hi);
            best_lo = select(best_lo, s_lo, take_lo);
            best_hi = select(best_hi, s_hi, take_hi);
            best_k_lo = select(best_k_lo, vec4<u32>(k), take_lo);
            best_k_hi = select(best_k_hi, vec4<u32>(k), take_hi);
        }
        if t == 0u {
            top_lo = best_lo;
            top_hi = best_hi;
        }
        // The softmax's sum, in pick order (largest first).
        total_lo += exp(best_lo - top_lo);
        total_hi += exp(best_hi - top_hi);
        pick_lo[t] = best_k_lo;
        pick_hi[t] = best_k_hi;
        at_lo = best_lo;
        at_hi = best_hi;
        at_k_lo = best_k_lo;
        at_k_hi = best_k_hi;
    }

    // The dense weight rows: the softmax over the selection, 0 elsewhere.
    let out_lo = row_lo * (D + K) + D;
    let out_hi = row_hi * (D + K) + D;
    for (var k = 0u; k < K; k++) {
        let w_lo = select(vec4<f32>(0.0), exp(score_lo[k] - top_lo) / total_lo,
                          before_or_at4(score_lo[k], k, at_lo, at_k_lo));
        let w_hi = select(vec4<f32>(0.0), exp(score_hi[k] - top_hi) / total_hi,
                          before_or_at4(score_hi[k], k, at_hi, at_k_hi));
        out[out_lo.x + k] = w_lo.x;
        out[out_lo.y + k] = w_lo.y;
        out[out_lo.z + k] = w_lo.z;
        out[out_lo.w + k] = w_lo.w;
        out[out_hi.x + k] = w_hi.x;
        out[out_hi.y + k] = w_hi.y;
        out[out_hi.z + k] = w_hi.z;
        out[out_hi.w + k] = w_hi.w;
    }

    // The read gathers the selected slots only, one row at a time.
    for (var j = 0u; j < RB; j++) {
        if first + j >= rows {
            break;
        }
        let hi = j >= 4u;
        let c = j % 4u;
        let top = select(top_lo[c], top_hi[c], hi);
        let total = select(total_lo[c], total_hi[c], hi);
        // Zeroed explicitly: not every WGSL compiler re-initialises a `var` declared in a loop on
        // each iteration (Chromium's did not, and rows summed into the previous row's read).
        var read: array<vec4<f32>, {{ d4 }}>;
        //#unroll g d4
        read[{g}] = vec4<f32>(0.0);
        //#end
        for (var t = 0u; t < top_k; t++) {
            let k = select(pick_lo[t][c], pick_hi[t][c], hi);
            let s = select(score_lo[k][c], score_hi[k][c], hi);
            let w = exp(s - top) / total;
            let s0 = (b * K + k) * D4;
            //#unroll g d4
            read[{g}] += w * slots[s0 + {g}u];
            //#end
        }
        let o0 = (b * rows + first + j) * (D + K);
        //#unroll g d4
        out[o0 + 4u * {g}u] = read[{g}].x;
        if 4u * {g}u + 1u < D { out[o0 + 4u * {g}u + 1u] = read[{g}].y; }
        if 4u * {g}u + 2u < D { out[o0 + 4u * {g}u + 2u] = read[{g}].z; }
        if 4u * {g}u + 3u < D { out[o0 + 4u * {g}u + 3u] = read[{g}].w; }
        //#end
    }
}
