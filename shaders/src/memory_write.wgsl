// Working-memory write, forward (the contract is `dmn::ops::memory_write`):
//
//   open = hold ≤ max(max_h g_h, min_k hold_k)     slots this update may write
//   c_h  = top_k softmax(β_h cos(key_h, W))        content address of head h, over open slots
//   ω_h  = g_h (α_h lru_h + (1 − α_h) c_h)          lru_h: one-hot on the h-th least used open slot
//   m    = clamp(Σ_h ω_h, 0, 1)                    written mass
//   W'   = W ⊙ (1 − f ⊙ m) ⊙ Π_h (1 − ω_h ⊗ e_h) + Σ_h ω_h ⊗ a_h
//   age' = (age + 1)(1 − m),  usage' = usage·(1 − (1 − λ) max_h g_h) + m
//   hold' = max(hold (1 − m), max_h ω_h / max_k w_hk)       w_h = ω_h / g_h: head h's address
//
// With every g_h = 0 the slots, usage and hold come out bit-identical (keep is exactly 1, added
// 0, nothing written).
//
// One workgroup per batch row, in three phases separated by barriers: the H × K scores (a
// thread per slot), the addresses (a thread per head), then the K × d slot update (a thread per
// column). The scores are kept in the ω region of the output until each head overwrites its row
// with ω.

@group(0) @binding(0) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(1) var<storage, read_write> heads: array<f32>;    // [B, H, 3d]: key ‖ erase ‖ add
@group(0) @binding(2) var<storage, read_write> gates: array<f32>;    // [B, H, 3]: β, g, α
@group(0) @binding(3) var<storage, read_write> per_slot: array<f32>; // [B, K, 4]: age, usage, f, hold
// [B, K·d + H·K + 3K]: W' ‖ ω ‖ age' ‖ usage' ‖ hold'
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read> sizes: array<u32>;         // d, top_k, bits of λ

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
const H: u32 = {{ h }}u;
// The score of a slot closed to this update, as `dmn::ops::MASKED`: its softmax weight is 0.
const MASKED: f32 = -1.0e9;

// Each head's largest address weight (phase 2), which scales its gate into hold'.
var<workgroup> peak: array<f32, H>;

//#use cosine select least_used

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let d = sizes[0];
    let top_k = sizes[1];
    let usage_decay = bitcast<f32>(sizes[2]);
    let b = wid.x;
    let o0 = b * (K * d + H * K + 3u * K);
    let om = o0 + K * d;

    // Phase 1: β_h cos(key_h, W_k) for every (head, slot). A thread per slot takes every head,
    // so one load of a slot value feeds H dot products (loads, not FMAs, set the speed).
    for (var k = lid.x; k < K; k += WG) {
        // Zeroed explicitly for each slot: not every WGSL compiler re-initialises a `var`
        // declared in a loop on each iteration.
        var dot: array<f32, {{ h }}>;
        var kk: array<f32, {{ h }}>;
        for (var h = 0u; h < H; h++) {
            dot[h] = 0.0;
            kk[h] = 0.0;
        }
        var ss = 0.0;
        for (var i = 0u; i < d; i++) {
            let s = slots[(b * K + k) * d + i];
            ss += s * s;
            for (var h = 0u; h < H; h++) {
                let key = heads[(b * H + h) * 3u * d + i];
                dot[h] += key * s;
                kk[h] += key * key;
            }
        }
        let w_norm = norm(ss);
        for (var h = 0u; h < H; h++) {
            out[om + h * K + k] = scaled_cosine(gates[(b * H + h) * 3u] / norm(kk[h]), dot[h], w_norm);
        }
    }
    storageBarrier();

    // Phase 2: head h's address and write weights.
    if lid.x < H {
        let h = lid.x;
        let threshold = open_threshold(b);
        // The content address: softmax over the top-k scores of open slots, 0 elsewhere.
        var score: array<f32, {{ k }}>;
        var content: array<f32, {{ k }}>;
        for (var k = 0u; k < K; k++) {
            score[k] = select(MASKED, out[om + h * K + k], is_open(b, k, threshold));
            content[k] = 0.0;
        }
        var pick: array<u32, {{ k }}>;
        let total = select_top_k(&score, top_k, &pick);
        for (var t = 0u; t < top_k; t++) {
            content[pick[t]] = exp(score[pick[t]] - score[pick[0]]);
        }
        let lru = least_used(b, h, threshold);
        let g = gates[(b * H + h) * 3u + 1u];
        let alpha = gates[(b * H + h) * 3u + 2u];
        var top = 0.0;
        for (var k = 0u; k < K; k++) {
            let one_hot = select(0.0, 1.0, k == lru);
            let address = alpha * one_hot + (1.0 - alpha) * content[k] / total;
            out[om + h * K + k] = g * address;
            top = max(top, address);
        }
        peak[h] = top;
    }
    storageBarrier();
    workgroupBarrier();

    // Phase 3: erase, decay and add. A thread per column holds every head's erase and add
    // values of that column, so each slot element costs only its H write weights.
    for (var j = lid.x; j < d; j += WG) {
        var erase: array<f32, {{ h }}>;
        var add: array<f32, {{ h }}>;
        for (var h = 0u; h < H; h++) {
            erase[h] = heads[(b * H + h) * 3u * d + d + j];
            add[h] = heads[(b * H + h) * 3u * d + 2u * d + j];
        }
        for (var k = 0u; k < K; k++) {
            var mass = 0.0;
            for (var h = 0u; h < H; h++) {
                mass += out[om + h * K + k];
            }
            var keep = 1.0 - per_slot[(b * K + k) * 4u + 2u] * clamp(mass, 0.0, 1.0);
            var added = 0.0;
            for (var h = 0u; h < H; h++) {
                let w = out[om + h * K + k];
                keep *= 1.0 - w * erase[h];
                added += w * add[h];
            }
            let p = k * d + j;
            out[o0 + p] = slots[b * K * d + p] * keep + added;
        }
    }
    // Age, usage and hold; usage decays only when some head writes.
    var writing = 0.0;
    for (var h = 0u; h < H; h++) {
        writing = max(writing, gates[(b * H + h) * 3u + 1u]);
    }
    for (var k = lid.x; k < K; k += WG) {
        var sum = 0.0;
        var strongest = 0.0;
        for (var h = 0u; h < H; h++) {
            sum += out[om + h * K + k];
            strongest = max(strongest, out[om + h * K + k] / peak[h]);
        }
        let written = clamp(sum, 0.0, 1.0);
        out[om + H * K + k] = (per_slot[(b * K + k) * 4u] + 1.0) * (1.0 - written);
        out[om + H * K + K + k] = per_slot[(b * K + k) * 4u + 1u] * (1.0 + writing * (usage_decay - 1.0)) + written;
        out[om + H * K + 2u * K + k] = max(per_slot[(b * K + k) * 4u + 3u] * (1.0 - written), strongest);
    }
}
