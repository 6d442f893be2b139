// Selective scan, forward (the contract is `dmn::ops::scan`):
//
//   h_t = exp(Δ_t A) ⊙ h_{t-1} + (Δ_t x_t) B_t        h: [E, N] per batch row, A = −exp(a_log)
//   y_t = h_t · C_t + D x_t
//
// One thread per (batch, channel) keeps its N-wide state in registers and walks the sequence;
// a workgroup covers WG channels of one batch row. Time goes in tiles of TILE steps: the tile's
// B_t and C_t (shared by every channel) are loaded once into workgroup memory, so each thread
// reads only its own x and Δ from global memory and writes y: the kernel streams the sequence
// once. When `save_every` is non-zero the state entering every tile is written out, so the
// backward pass can recompute a tile's states instead of storing all L × E × N of them.

@group(0) @binding(0) var<storage, read_write> x: array<f32>;       // [B, L, E]
@group(0) @binding(1) var<storage, read_write> delta: array<f32>;   // [B, L, E]
@group(0) @binding(2) var<storage, read_write> weights: array<f32>; // a_log [E, N] ‖ d_skip [E]
@group(0) @binding(3) var<storage, read_write> bc: array<f32>;      // [B, L, 2N]: B_t ‖ C_t
@group(0) @binding(4) var<storage, read_write> h0: array<f32>;      // [B, E, N]
@group(0) @binding(5) var<storage, read_write> out: array<f32>;     // [B, L·E + E·N]: y ‖ h_last
@group(0) @binding(6) var<storage, read_write> tiles: array<f32>;   // [B, ⌈L/TILE⌉, E, N]
@group(0) @binding(7) var<storage, read> sizes: array<u32>;        // L, E, save tile states

const WG: u32 = {{ wg }}u;
const N: u32 = {{ n }}u;
const TILE: u32 = {{ tile }}u;

var<workgroup> bc_tile: array<f32, {{ tile_2n }}>; // [TILE, 2N]
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
    // A uniform copy of L: loops containing barriers must have uniform bounds.
    let len = workgroupUniformLoad(&len_shared);
    let channels = sizes[1];
    let save = sizes[2] != 0u;

    let b = wid.y;
    let e = wid.x * WG + lid.x;
    let in_range = e < channels;
    let ec = min(e, channels - 1u);

    var a: array<f32, {{ n }}>;
    let d_skip = load_channel(ec, channels, &a);
    var h: array<f32, {{ n }}>;
    for (var n = 0u; n < N; n++) {
        h[n] = h0[(b * channels + ec) * N + n];
    }
    let packed = len * channels + channels * N;
    let n_tiles = (len + TILE - 1u) / TILE;

    for (var tile = 0u; tile < n_tiles; tile++) {
        let t0 = tile * TILE;
        let tn = min(TILE, len - t0);
        load_bc_tile(lid.x, b, len, t0, tn);
        workgroupBarrier();
        if in_range {
            if save {
                for (var n = 0u; n < N; n++) {
                    tiles[((b * n_tiles + tile) * channels + e) * N + n] = h[n];
                }
            }
            for (var tt = 0u; tt < tn; tt++) {
                let idx = (b * len + t0 + tt) * channels + e;
                let dt = delta[idx];
                let xt = x[idx];
                let u = dt * xt;
                var y = 0.0;
                for (var n = 0u; n < N; n++) {
                    h[n] = next_state(h[n], a[n], dt, u, bc_tile[tt * 2u * N + n]);
                    y += h[n] * bc_tile[tt * 2u * N + N + n];
                }
                out[b * packed + (t0 + tt) * channels + e] = y + d_skip * xt;
            }
        }
        workgroupBarrier();
    }
    if in_range {
        for (var n = 0u; n < N; n++) {
            out[b * packed + len * channels + e * N + n] = h[n];
        }
    }
}
