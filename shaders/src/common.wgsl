// Helpers shared by the kernels, so that a forward pass and its backward compute the steps they
// share with the same code: the norms and scores of cosine addressing, the order every selection
// breaks ties by, the least used slot, the scan's recurrence.
//
// The file is cut into parts (`//#part NAME`, up to the next part). A kernel asks for parts on a
// `//#use NAME …` line, which the launcher replaces with their text (`launch::use_parts`). A
// part may use the names it lists under "Needs", which every kernel using it declares: WGSL
// declarations can come in any order, but a helper cannot take a pointer to a storage buffer
// portably (Chromium and naga refuse it), so helpers read the kernel's bindings by name and
// otherwise take values or `ptr<function, …>`. Every `var` gets its value before it is read:
// not every WGSL compiler re-initialises a `var` declared in a loop.

//#part cosine
// Cosine addressing, as in `dmn::ops::cosine_scores`. Needs nothing.

// Added under the square root of norms, as in the reference: an all-zero row scores 0.
const NORM_EPS2: f32 = 1e-12;

// ‖v‖ from Σ v².
fn norm(ss: f32) -> f32 {
    return sqrt(ss + NORM_EPS2);
}

// β cos(q, w) from scale = β / ‖q‖, the dot product q · w and ‖w‖. Kernels that select by
// these scores compute them with this one expression, so that a backward pass selects the slots
// its forward pass selected.
fn scaled_cosine(scale: f32, dot: f32, w_norm: f32) -> f32 {
    return scale * dot * (1.0 / w_norm);
}

// `scaled_cosine` for four query rows at once against one slot.
fn scaled_cosine4(scale: vec4<f32>, dot: vec4<f32>, w_norm: f32) -> vec4<f32> {
    return scale * dot * (1.0 / w_norm);
}

//#part select
// Top-k selection, in the order of `dmn::ops::top_k`: score descending, then index ascending
// (ties go to the lower index). Pass t takes the best entry after pass t−1's pick in that order,
// so nothing needs marking and the last pick is a threshold: an entry is selected when it comes
// before or at it. Needs K (the entries scored).

// Below every real score, above which every pass finds its pick.
const LOWEST: f32 = -3.0e38;
// Above every real score: the pick "before" the first pass.
const HIGHEST: f32 = 3.0e38;

// Whether (s, k) comes before or at (s_at, k_at) in the order.
fn before_or_at(s: f32, k: u32, s_at: f32, k_at: u32) -> bool {
    return s > s_at || (s == s_at && k <= k_at);
}

// `before_or_at` for four rows at once (one per component) and one entry k.
fn before_or_at4(s: vec4<f32>, k: u32, s_at: vec4<f32>, k_at: vec4<u32>) -> vec4<bool> {
    return (s > s_at) | ((s == s_at) & (vec4<u32>(k) <= k_at));
}

// The entry of `score` that comes first after (s_at, k_at): the next pass's pick.
fn next_pick(score: ptr<function, array<f32, K>>, s_at: f32, k_at: u32) -> u32 {
    var best = LOWEST;
    var best_k = 0u;
    for (var k = 0u; k < K; k++) {
        let s = (*score)[k];
        // After the previous pick, and strictly better than the best so far (so the lowest
        // index wins a tie).
        if !before_or_at(s, k, s_at, k_at) && s > best {
            best = s;
            best_k = k;
        }
    }
    return best_k;
}

// The `top_k` largest scores, largest first: their indices in pick[0 .. top_k]. Returns the
// softmax's sum over them, Σ_t exp(s_t − s_0), added in pick order.
fn select_top_k(score: ptr<function, array<f32, K>>, top_k: u32,
                pick: ptr<function, array<u32, K>>) -> f32 {
    var s_at = HIGHEST;
    var k_at = 0u;
    var top = 0.0;
    var total = 0.0;
    for (var t = 0u; t < top_k; t++) {
        k_at = next_pick(score, s_at, k_at);
        s_at = (*score)[k_at];
        (*pick)[t] = k_at;
        if t == 0u {
            top = s_at;
        }
        total += exp(s_at - top);
    }
    return total;
}

//#part least_used
// The slots open to a write and its allocation address (`dmn::ops::memory_write`). Needs the
// `select` part, K, H and the `per_slot` ([B, K, 4]: age, usage, f, hold) and `gates`
// ([B, H, 3]: β, g, α) bindings.

// The hold at or below which a slot of batch row b is open to this update: its strongest write
// gate, or the weakest hold where that is higher (the weakest-held slot is always open).
fn open_threshold(b: u32) -> f32 {
    var strongest = gates[b * H * 3u + 1u];
    for (var h = 1u; h < H; h++) {
        strongest = max(strongest, gates[(b * H + h) * 3u + 1u]);
    }
    var weakest = per_slot[b * K * 4u + 3u];
    for (var k = 1u; k < K; k++) {
        weakest = min(weakest, per_slot[(b * K + k) * 4u + 3u]);
    }
    return max(strongest, weakest);
}

// Whether slot k of batch row b is open to a write with this `open_threshold`.
fn is_open(b: u32, k: u32, threshold: f32) -> bool {
    return per_slot[(b * K + k) * 4u + 3u] <= threshold;
}

// Head h's allocation slot: the h-th least used open slot of batch row b, ties to the lower
// index, or the least used open slot where fewer than h + 1 are open.
fn least_used(b: u32, h: u32, threshold: f32) -> u32 {
    var neg_usage: array<f32, K>;
    var opened = 0u;
    for (var k = 0u; k < K; k++) {
        // A closed slot scores LOWEST, which no selection pass picks.
        neg_usage[k] = LOWEST;
        if is_open(b, k, threshold) {
            neg_usage[k] = -per_slot[(b * K + k) * 4u + 1u];
            opened += 1u;
        }
    }
    let rank = select(0u, h, h < opened);
    var s_at = HIGHEST;
    var k_at = 0u;
    for (var t = 0u; t <= rank; t++) {
        k_at = next_pick(&neg_usage, s_at, k_at);
        s_at = neg_usage[k_at];
    }
    return k_at;
}

//#part scan
// The scan's parameters and recurrence (`dmn::ops::scan`), read and stepped alike by the forward
// pass and by the backward's recomputation of each tile. Needs N, WG, the `weights`
// (a_log [E, N] ‖ d_skip [E]) and `bc` ([B, L, 2N]) bindings and the `bc_tile` workgroup array.

// Channel e's A = −exp(a_log) into `a`; returns its skip weight D.
fn load_channel(e: u32, channels: u32, a: ptr<function, array<f32, N>>) -> f32 {
    for (var n = 0u; n < N; n++) {
        (*a)[n] = -exp(weights[e * N + n]);
    }
    return weights[channels * N + e];
}

// B_t ‖ C_t of the steps t0 .. t0 + tn of batch row b into `bc_tile`, spread over the
// workgroup's threads (`lane` is this one); the caller synchronises.
fn load_bc_tile(lane: u32, b: u32, len: u32, t0: u32, tn: u32) {
    for (var i = lane; i < tn * 2u * N; i += WG) {
        bc_tile[i] = bc[(b * len + t0) * 2u * N + i];
    }
}

// One step of state n: h_t = exp(Δ_t A) h_{t−1} + (Δ_t x_t) B_t, with u = Δ_t x_t.
fn next_state(h: f32, a: f32, dt: f32, u: f32, b_n: f32) -> f32 {
    return exp(dt * a) * h + u * b_n;
}
