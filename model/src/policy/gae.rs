//! Generalized advantage estimation (Schulman et al. 2016):
//!
//!   δ_t = r_t + γ V(s_{t+1}) (1 − done_t) − V(s_t)
//!   A_t = δ_t + γ λ (1 − done_t) A_{t+1}          returns R_t = A_t + V(s_t)
//!
//! over one trajectory of T steps; `last_value` is V of the state after the last step (ignored
//! when the last step ends the episode).

/// Advantages and returns of one trajectory.
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    last_value: f32,
    gamma: f32,
    lambda: f32,
) -> (Vec<f32>, Vec<f32>) {
    let n = rewards.len();
    assert!(
        values.len() == n && dones.len() == n,
        "gae: rewards, values and dones must have one entry per step"
    );
    let mut advantages = vec![0.0; n];
    let mut next_advantage = 0.0;
    let mut next_value = last_value;
    for t in (0..n).rev() {
        let live = if dones[t] { 0.0 } else { 1.0 };
        let delta = rewards[t] + gamma * next_value * live - values[t];
        next_advantage = delta + gamma * lambda * live * next_advantage;
        advantages[t] = next_advantage;
        next_value = values[t];
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn matches_a_hand_worked_episode() {
        // r = [1, 0, 2], V = [0.5, 1.0, 1.5], the episode ends at t = 2; γ = 0.9, λ = 0.8.
        // δ2 = 2 − 1.5 = 0.5                     A2 = 0.5
        // δ1 = 0 + 0.9·1.5 − 1.0 = 0.35          A1 = 0.35 + 0.72·0.5 = 0.71
        // δ0 = 1 + 0.9·1.0 − 0.5 = 1.4           A0 = 1.4 + 0.72·0.71 = 1.9112
        let (a, r) = gae(
            &[1.0, 0.0, 2.0],
            &[0.5, 1.0, 1.5],
            &[false, false, true],
            123.0,
            0.9,
            0.8,
        );
        close(&a, &[1.9112, 0.71, 0.5]);
        close(&r, &[2.4112, 1.71, 2.0]);
    }

    #[test]
    fn bootstraps_from_the_last_value_when_not_done() {
        // One step, not done: δ = 1 + 0.5·4 − 2 = 1.
        let (a, r) = gae(&[1.0], &[2.0], &[false], 4.0, 0.5, 0.9);
        close(&a, &[1.0]);
        close(&r, &[3.0]);
    }

    #[test]
    fn lambda_one_gives_discounted_returns_minus_values() {
        let (a, r) = gae(
            &[1.0, 1.0, 1.0],
            &[0.0; 3],
            &[false, false, true],
            0.0,
            0.5,
            1.0,
        );
        close(&r, &[1.75, 1.5, 1.0]);
        close(&a, &r);
    }
}
