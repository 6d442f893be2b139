// Selective scan, backward: the reverse scan.
//
// With g_t the gradient reaching h_t (from y_t and from h_{t+1}):
//
//   g_t     = a_{t+1} ⊙ g_{t+1} + dy_t C_t           a_t = exp(Δ_t A), g after the last step = dh_last
//   dx_t    = Σ_n g_t Δ_t B_t + D dy_t
//   dΔ_t    = Σ_n g_t (x_t B_t + A a_t h_{t-1})
//   dB_t    = Σ_e g_t Δ_t x_t                      dC_t = Σ_e dy_t h_t
//   da_log  = Σ_{b,t} g_t Δ_t a_t h_{t-1} · A      dD = Σ_{b,t} dy_t x_t       dh0 = a_1 ⊙ g_1
//
// One thread per (batch, channel), as in the forward pass, walks the tiles last to first. The
// states h_{t-1} of a tile are recomputed from the state the forward pass saved at the tile's
// start (TILE × N values per thread) instead of being read from an L × E × N history. dB and dC
// sum over channels: each step the workgroup reduces its channels in shared memory and writes
// one partial sum per workgroup, which the launcher adds up (there are ⌈E / WG⌉ of them).

@group(0) @binding(0) var<storage, read_write> x: array<f32>;       // [B, L, E]
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;   // [B, L, E]
@group(0) @binding(2) var<storage, read_write> weights: array<f32>; // a_log [E, N] ‖ d_skip [E]
@group(0) @binding(3) var<storage, read_write> bc: array<f32>;      // [B, L, 2N]
@group(0) @binding(4) var<storage, read_write> tiles: array<f32>;   // [B, ⌈L/TILE⌉, E, N]
@group(0) @binding(5) var<storage, read_write> dout: array<f32>;    // [B, L·E + E·N]: dy ‖ dh_last
@group(0) @binding(6) var<storage, read_write> grads: array<f32>;   // see `sizes`
// L, E, B, then the offsets in `grads` of: dΔ [B, L, E], dBC partials [G, B, L, 2N],
// da_log partials [B, E, N], dD partials [B, E], dh0 [B, E, N]. dx [B, L, E] starts at 0.
@group(0) @binding(7) var<storage, read> sizes: array<u32>;

const WG: u32 = {{ wg }}u;
const N: u32 = {{ n }}u;
const TILE: u32 = {{ tile }}u;

var<workgroup> bc_tile: array<f32, {{ tile_2n }}>; // [TILE, 2N]
var<workgroup> partial: array<f32, {{ wg_2n }}>;   // [WG, 2N]: this step's dB ‖ dC per channel
var<workgroup> len_shared: u32;

//#use scan

@compute @workgroup_size({{ wg }}, 1, 1)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    if lid.x == 0u {
        len_shared = sizes[0];
    }
    let len = workgroupUniformLoad(&len_shared);
    let channels = sizes[1];
    let batch = sizes[2];
    let off_ddelta = sizes[3];
    let off_dbc = sizes[4];
    let off_da = sizes[5];
    let off_dd = sizes[6];
    let off_dh0 = sizes[7];

    let b = wid.y;
    let e = wid.x * WG + lid.x;
    let in_range = e < channels;
    let ec = min(e, channels - 1u);
    // Threads past the last channel still take part in the reductions, with zero gradients.
    let mask = select(0.0, 1.0, in_range);

    var a: array<f32, {{ n }}>;
    let d_skip = load_channel(ec, channels, &a);
    var g: array<f32, {{ n }}>;
    var da: array<f32, {{ n }}>;
    let packed = len * channels + channels * N;
    for (var n = 0u; n < N; n++) {
        g[n] = dout[b * packed + len * channels + ec * N + n] * mask;
        da[n] = 0.0;
    }
    var dd_skip = 0.0;
    var hs: array<f32, {{ tile_n }}>; // h_{t-1} for each step of the tile
    let n_tiles = (len + TILE - 1u) / TILE;

    for (var k = 0u; k < n_tiles; k++) {
        let tile = n_tiles - 1u - k;
        let t0 = tile * TILE;
        let tn = min(TILE, len - t0);
        load_bc_tile(lid.x, b, len, t0, tn);
        workgroupBarrier();

        var h: array<f32, {{ n }}>;
        for (var n = 0u; n < N; n++) {
            h[n] = tiles[((b * n_tiles + tile) * channels + ec) * N + n];
        }
        for (var tt = 0u; tt < tn; tt++) {
            let idx = (b * len + t0 + tt) * channels + ec;
            let dt = delta[idx];
            let u = dt * x[idx];
            for (var n = 0u; n < N; n++) {
                hs[tt * N + n] = h[n];
                h[n] = next_state(h[n], a[n], dt, u, bc_tile[tt * 2u * N + n]);
            }
        }

        for (var j = 0u; j < tn; j++) {
            let tt = tn - 1u - j;
            let t = t0 + tt;
            let idx = (b * len + t) * channels + ec;
            let dt = delta[idx];
            let xt = x[idx];
            let u = dt * xt;
            let dy = dout[b * packed + t * channels + ec] * mask;
            var dx = d_skip * dy;
            var dd = 0.0;
            dd_skip += dy * xt;
            for (var n = 0u; n < N; n++) {
                let bn = bc_tile[tt * 2u * N + n];
                let cn = bc_tile[tt * 2u * N + N + n];
                let hp = hs[tt * N + n];
                let decay = exp(dt * a[n]);
                // The state the forward pass reached at this step.
                let ht = next_state(hp, a[n], dt, u, bn);
                let gn = g[n] + dy * cn;
                partial[lid.x * 2u * N + n] = gn * dt * xt;
                partial[lid.x * 2u * N + N + n] = dy * ht;
                dx += gn * dt * bn;
                dd += gn * (xt * bn + a[n] * decay * hp);
                da[n] += gn * dt * decay * hp;
                g[n] = gn * decay;
            }
            if in_range {
                grads[idx] = dx;
                grads[off_ddelta + idx] = dd;
            }
            workgroupBarrier();
            for (var i = lid.x; i < 2u * N; i += WG) {
                var s = 0.0;
                for (var w = 0u; w < WG; w++) {
                    s += partial[w * 2u * N + i];
                }
                grads[off_dbc + ((wid.x * batch + b) * len + t) * 2u * N + i] = s;
            }
            workgroupBarrier();
        }
    }

    if in_range {
        for (var n = 0u; n < N; n++) {
            grads[off_da + (b * channels + e) * N + n] = da[n] * a[n];
            grads[off_dh0 + (b * channels + e) * N + n] = g[n];
        }
        grads[off_dd + b * channels + e] = dd_skip;
    }
}
