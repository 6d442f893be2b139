// Working-memory read, backward, per slot: the gradient of the slots, a sum over every query row.
//
//   dW_k = Σ_r w_rk dread_r  +  (g_k − Ŵ_k (Ŵ_k · g_k)) / ‖W_k‖,   g_k = Σ_r dc_rk q̂_r
//
// with dc from `memory_read_backward.wgsl`. One workgroup per (batch, slot), its threads over the
// slot's d entries. A row that neither selected the slot nor has a cosine gradient for it
// (w = dc = 0: most rows, as reads are sparse) is skipped without touching its query.

@group(0) @binding(0) var<storage, read_write> query: array<f32>;    // [B, R, d]
@group(0) @binding(1) var<storage, read_write> slots: array<f32>;    // [B, K, d]
@group(0) @binding(2) var<storage, read_write> forward: array<f32>;  // [B, R, d + K]: read ‖ w
@group(0) @binding(3) var<storage, read_write> dout: array<f32>;     // [B, R, d + K]
@group(0) @binding(4) var<storage, read_write> rowgrads: array<f32>; // from the row kernel
@group(0) @binding(5) var<storage, read_write> dslots: array<f32>;   // [B, K, d]
// R, d, then the offsets of dc [B, R, K] and ‖q‖ [B, R] in `rowgrads`
@group(0) @binding(6) var<storage, read> sizes: array<u32>;

const WG: u32 = {{ wg }}u;
const K: u32 = {{ k }}u;
const PER: u32 = {{ per }}u; // ⌈d / WG⌉ entries per thread

var<workgroup> partial: array<f32, {{ wg }}>;

//#use cosine

fn workgroup_sum(lane: u32, value: f32) -> f32 {
    partial[lane] = value;
    workgroupBarrier();
    var total = 0.0;
    for (var w = 0u; w < WG; w++) {
        total += partial[w];
    }
    workgroupBarrier();
    return total;
}

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let rows = sizes[0];
    let d = sizes[1];
    let off_dc = sizes[2];
    let off_qnorm = sizes[3];
    let k = wid.x;
    let b = wid.y;

    var dread: array<f32, {{ per }}>;
    var g: array<f32, {{ per }}>;
    for (var p = 0u; p < PER; p++) {
        dread[p] = 0.0;
        g[p] = 0.0;
    }
    for (var r = 0u; r < rows; r++) {
        let row = b * rows + r;
        let w = forward[row * (d + K) + d + k];
        let dc = rowgrads[off_dc + row * K + k];
        if w == 0.0 && dc == 0.0 {
            continue;
        }
        let qs = dc / rowgrads[off_qnorm + row];
        for (var p = 0u; p < PER; p++) {
            let i = lid.x + p * WG;
            if i < d {
                dread[p] += w * dout[row * (d + K) + i];
                g[p] += qs * query[row * d + i];
            }
        }
    }

    var ss = 0.0;
    var sg = 0.0;
    for (var p = 0u; p < PER; p++) {
        let i = lid.x + p * WG;
        if i < d {
            let s = slots[(b * K + k) * d + i];
            ss += s * s;
            sg += s * g[p];
        }
    }
    let w_norm = norm(workgroup_sum(lid.x, ss));
    let sdot = workgroup_sum(lid.x, sg);
    for (var p = 0u; p < PER; p++) {
        let i = lid.x + p * WG;
        if i < d {
            let s = slots[(b * K + k) * d + i];
            dslots[(b * K + k) * d + i] = dread[p] + (g[p] - s * sdot / (w_norm * w_norm)) / w_norm;
        }
    }
}
