// Working-memory write, backward. With G = dW' and dω the output gradients,
// P_kj = Π_h (1 − ω_hk e_hj), P^h its product without head h, and m_k the written mass (a
// constant, as in the forward pass):
//
//   dW_kj  = G_kj (1 − f_k m_k) P_kj + [cosine term below]
//   df_k   = −m_k Σ_j G_kj W_kj P_kj
//   da_hj  = Σ_k ω_hk G_kj
//   de_hj  = −Σ_k G_kj W_kj (1 − f_k m_k) ω_hk P^h_kj
//   dω_hk += Σ_j G_kj (a_hj − W_kj (1 − f_k m_k) e_hj P^h_kj)
//   dg_h   = Σ_k dω_hk addr_hk,   dα_h = Σ_k g_h dω_hk (lru_hk − c_hk),   dc_hk = (1 − α_h) g_h dω_hk
//   ds_hk  = c_hk (dc_hk − Σ_j c_hj dc_hj)  (0 outside the top-k),   dβ_h = Σ_k ds_hk cos_hk
//   dcos   = β ds:  dkey_h = (u − k̂ (k̂·u)) / ‖key_h‖, u = Σ_k dcos_hk Ŵ_k
//                   dW_k  += (v − Ŵ_k (Ŵ_k·v)) / ‖W_k‖, v = Σ_h dcos_hk k̂_h
//
// Slots closed to the write (`open` in the forward pass) score MASKED, so their content weight
// and every gradient through it is 0. Age, usage and hold are statistics and get no gradient.
// One workgroup per batch row; it recomputes the forward addresses, then works in phases
// separated by barriers, keeping per-row intermediates in a scratch region of the gradient
// buffer.

@group(0) @binding(0) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(1) var<storage, read_write> heads: array<f32>;    // [B, H, 3d]: key ‖ erase ‖ add
@group(0) @binding(2) var<storage, read_write> gates: array<f32>;    // [B, H, 3]: β, g, α
@group(0) @binding(3) var<storage, read_write> per_slot: array<f32>; // [B, K, 4]: age, usage, f, hold
@group(0) @binding(4) var<storage, read_write> dout: array<f32>;     // [B, K·d + H·K + 3K]
// dW [B, K, d] ‖ dheads [B, H, 3d] ‖ dgates [B, H, 3] ‖ dper_slot [B, K, 4] (0, 0, df, 0) ‖ scratch
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;
// d, top_k, then the offsets of dheads, dgates, dper_slot and the scratch
@group(0) @binding(6) var<storage, read> sizes: array<u32>;

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
const H: u32 = {{ h }}u;
// The score of a slot closed to the write, as in the forward pass.
const MASKED: f32 = -1.0e9;
// Scratch per batch row: dot [H·K], content [H·K], ω [H·K], dω then dcos [H·K], ‖W_k‖ [K],
// ‖key_h‖ [H], lru [H].
const S_DOT: u32 = 0u;
const S_CONTENT: u32 = H * K;
const S_OMEGA: u32 = 2u * H * K;
const S_DCOS: u32 = 3u * H * K;
const S_SNORM: u32 = 4u * H * K;
const S_KNORM: u32 = 4u * H * K + K;
const S_LRU: u32 = 4u * H * K + K + H;
const S_LEN: u32 = 4u * H * K + K + 2u * H;

//#use cosine select least_used

// The written mass m_k of the forward pass, from ω in the scratch.
fn written(sc: u32, k: u32) -> f32 {
    var sum = 0.0;
    for (var h = 0u; h < H; h++) {
        sum += grads[sc + S_OMEGA + h * K + k];
    }
    return clamp(sum, 0.0, 1.0);
}

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let d = sizes[0];
    let top_k = sizes[1];
    let off_heads = sizes[2];
    let off_gates = sizes[3];
    let off_dslot = sizes[4];
    let b = wid.x;
    let sc = sizes[5] + b * S_LEN;
    let o0 = b * (K * d + H * K + 3u * K);
    let hd = 3u * d;

    // Phase A1: dot products and norms, as in the forward pass.
    for (var p = lid.x; p < H * K; p += WG) {
        let h = p / K;
        let k = p % K;
        var dot = 0.0;
        for (var i = 0u; i < d; i++) {
            dot += heads[(b * H + h) * hd + i] * slots[(b * K + k) * d + i];
        }
        grads[sc + S_DOT + p] = dot;
    }
    for (var k = lid.x; k < K; k += WG) {
        var ss = 0.0;
        for (var i = 0u; i < d; i++) {
            ss += slots[(b * K + k) * d + i] * slots[(b * K + k) * d + i];
        }
        grads[sc + S_SNORM + k] = norm(ss);
    }
    for (var h = lid.x; h < H; h += WG) {
        var kk = 0.0;
        for (var i = 0u; i < d; i++) {
            kk += heads[(b * H + h) * hd + i] * heads[(b * H + h) * hd + i];
        }
        grads[sc + S_KNORM + h] = norm(kk);
    }
    storageBarrier();

    // Phase A2: each head's selection, content weights, lru slot and ω (forward again).
    if lid.x < H {
        let h = lid.x;
        let beta = gates[(b * H + h) * 3u];
        let kn = grads[sc + S_KNORM + h];
        let threshold = open_threshold(b);
        var score: array<f32, {{ k }}>;
        for (var k = 0u; k < K; k++) {
            let cosine = scaled_cosine(beta / kn, grads[sc + S_DOT + h * K + k], grads[sc + S_SNORM + k]);
            score[k] = select(MASKED, cosine, is_open(b, k, threshold));
            grads[sc + S_CONTENT + h * K + k] = 0.0;
        }
        var pick: array<u32, {{ k }}>;
        let total = select_top_k(&score, top_k, &pick);
        for (var t = 0u; t < top_k; t++) {
            grads[sc + S_CONTENT + h * K + pick[t]] = exp(score[pick[t]] - score[pick[0]]);
        }
        let lru = least_used(b, h, threshold);
        grads[sc + S_LRU + h] = f32(lru);
        let g = gates[(b * H + h) * 3u + 1u];
        let alpha = gates[(b * H + h) * 3u + 2u];
        for (var k = 0u; k < K; k++) {
            let c = grads[sc + S_CONTENT + h * K + k] / total;
            grads[sc + S_CONTENT + h * K + k] = c;
            let one_hot = select(0.0, 1.0, k == lru);
            grads[sc + S_OMEGA + h * K + k] = g * (alpha * one_hot + (1.0 - alpha) * c);
        }
    }
    storageBarrier();

    // Phase B1, per slot: the direct slot gradient, df, and dω (into the dcos scratch).
    for (var k = lid.x; k < K; k += WG) {
        let mass = written(sc, k);
        let keep_f = 1.0 - per_slot[(b * K + k) * 4u + 2u] * mass;
        var domega: array<f32, {{ h }}>;
        for (var h = 0u; h < H; h++) {
            domega[h] = dout[o0 + K * d + h * K + k];
        }
        var df = 0.0;
        for (var j = 0u; j < d; j++) {
            let gw = dout[o0 + k * d + j];
            let w = slots[(b * K + k) * d + j];
            var product = 1.0;
            for (var h = 0u; h < H; h++) {
                product *= 1.0 - grads[sc + S_OMEGA + h * K + k] * heads[(b * H + h) * hd + d + j];
            }
            grads[(b * K + k) * d + j] = gw * keep_f * product;
            df -= gw * w * product;
            for (var h = 0u; h < H; h++) {
                var others = 1.0;
                for (var o = 0u; o < H; o++) {
                    if o != h {
                        others *= 1.0 - grads[sc + S_OMEGA + o * K + k] * heads[(b * H + o) * hd + d + j];
                    }
                }
                let e = heads[(b * H + h) * hd + d + j];
                let a = heads[(b * H + h) * hd + 2u * d + j];
                domega[h] += gw * (a - w * keep_f * e * others);
            }
        }
        grads[off_dslot + (b * K + k) * 4u] = 0.0;
        grads[off_dslot + (b * K + k) * 4u + 1u] = 0.0;
        grads[off_dslot + (b * K + k) * 4u + 2u] = df * mass;
        grads[off_dslot + (b * K + k) * 4u + 3u] = 0.0;
        for (var h = 0u; h < H; h++) {
            grads[sc + S_DCOS + h * K + k] = domega[h];
        }
    }
    // Phase B2, per (head, value): da and de, sums over slots.
    for (var p = lid.x; p < H * d; p += WG) {
        let h = p / d;
        let j = p % d;
        var da = 0.0;
        var de = 0.0;
        for (var k = 0u; k < K; k++) {
            let omega = grads[sc + S_OMEGA + h * K + k];
            let gw = dout[o0 + k * d + j];
            var others = 1.0 - per_slot[(b * K + k) * 4u + 2u] * written(sc, k);
            for (var o = 0u; o < H; o++) {
                if o != h {
                    others *= 1.0 - grads[sc + S_OMEGA + o * K + k] * heads[(b * H + o) * hd + d + j];
                }
            }
            da += omega * gw;
            de -= gw * slots[(b * K + k) * d + j] * omega * others;
        }
        grads[off_heads + (b * H + h) * hd + d + j] = de;
        grads[off_heads + (b * H + h) * hd + 2u * d + j] = da;
    }
    storageBarrier();

    // Phase C, per head: gates, and the softmax backward into dcos.
    if lid.x < H {
        let h = lid.x;
        let beta = gates[(b * H + h) * 3u];
        let g = gates[(b * H + h) * 3u + 1u];
        let alpha = gates[(b * H + h) * 3u + 2u];
        let lru = u32(grads[sc + S_LRU + h]);
        let kn = grads[sc + S_KNORM + h];
        var dg = 0.0;
        var dalpha = 0.0;
        var cdc = 0.0;
        for (var k = 0u; k < K; k++) {
            let domega = grads[sc + S_DCOS + h * K + k];
            let c = grads[sc + S_CONTENT + h * K + k];
            let one_hot = select(0.0, 1.0, k == lru);
            dg += domega * (alpha * one_hot + (1.0 - alpha) * c);
            dalpha += g * domega * (one_hot - c);
            cdc += c * (1.0 - alpha) * g * domega;
        }
        var dbeta = 0.0;
        for (var k = 0u; k < K; k++) {
            let c = grads[sc + S_CONTENT + h * K + k];
            let dc = (1.0 - alpha) * g * grads[sc + S_DCOS + h * K + k];
            let ds = c * (dc - cdc);
            let cosine = grads[sc + S_DOT + h * K + k] / (kn * grads[sc + S_SNORM + k]);
            dbeta += ds * cosine;
            grads[sc + S_DCOS + h * K + k] = beta * ds;
        }
        grads[off_gates + (b * H + h) * 3u] = dbeta;
        grads[off_gates + (b * H + h) * 3u + 1u] = dg;
        grads[off_gates + (b * H + h) * 3u + 2u] = dalpha;
    }
    storageBarrier();

    // Phase D1, per head: the key gradient.
    for (var h = lid.x; h < H; h += WG) {
        let kn = grads[sc + S_KNORM + h];
        var ku = 0.0;
        for (var i = 0u; i < d; i++) {
            var u = 0.0;
            for (var k = 0u; k < K; k++) {
                u += grads[sc + S_DCOS + h * K + k] * slots[(b * K + k) * d + i] / grads[sc + S_SNORM + k];
            }
            ku += heads[(b * H + h) * hd + i] / kn * u;
            grads[off_heads + (b * H + h) * hd + i] = u;
        }
        for (var i = 0u; i < d; i++) {
            let u = grads[off_heads + (b * H + h) * hd + i];
            grads[off_heads + (b * H + h) * hd + i] = (u - heads[(b * H + h) * hd + i] / kn * ku) / kn;
        }
    }
    // Phase D2, per slot: the cosine term of the slot gradient.
    for (var k = lid.x; k < K; k += WG) {
        let sn = grads[sc + S_SNORM + k];
        var sv = 0.0;
        for (var i = 0u; i < d; i++) {
            var v = 0.0;
            for (var h = 0u; h < H; h++) {
                v += grads[sc + S_DCOS + h * K + k] * heads[(b * H + h) * hd + i] / grads[sc + S_KNORM + h];
            }
            sv += slots[(b * K + k) * d + i] / sn * v;
        }
        for (var i = 0u; i < d; i++) {
            var v = 0.0;
            for (var h = 0u; h < H; h++) {
                v += grads[sc + S_DCOS + h * K + k] * heads[(b * H + h) * hd + i] / grads[sc + S_KNORM + h];
            }
            grads[(b * K + k) * d + i] += (v - slots[(b * K + k) * d + i] / sn * sv) / sn;
        }
    }
}
