//! What the workspace's integration tests share.
//!
//! Some tests need something from the machine: a Vulkan driver, a display server, a browser.
//! Where it is missing they skip loudly ([`require`]), and where CI sets the test's
//! `DMN_REQUIRE_*` variable they fail instead, so CI cannot pass without running them. Tests
//! that drive a program (the desktop window, the browser page) read the JSON object it prints
//! last ([`json_summary`]).

use std::ffi::OsString;
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

/// Whether a test that needs something from the machine runs. `available` says whether it is
/// there, or why not (with how to install it). Where it is not, the test is skipped with a
/// `SKIPPED` line naming what went `untested` — unless the environment variable `var` is set:
/// then it panics.
pub fn require(var: &str, available: Result<(), String>, untested: &str) -> bool {
    let Err(why) = available else {
        return true;
    };
    assert!(std::env::var_os(var).is_none(), "{var} is set but {why}");
    eprintln!("SKIPPED: {why}; NOT tested: {untested}");
    false
}

/// The value of the environment variable `var`, which a test that runs only on request reads
/// (a corpus to learn, a device to use). Unset, the test is skipped with a `SKIPPED` line
/// naming what went `untested`.
pub fn opted_in(var: &str, untested: &str) -> Option<OsString> {
    let value = std::env::var_os(var);
    if value.is_none() {
        eprintln!("SKIPPED: {var} is not set; NOT tested: {untested}");
    }
    value
}

/// Exclusive use of the CPU backend's random numbers. Burn's CPU backend draws every random
/// number (initial weights, noise) from one generator per process, and a test binary runs its
/// tests on parallel threads: a test that seeds the generator and relies on the stream it gets
/// (to reach the same result in every run) holds this guard, and so does every other test in
/// its binary that draws from the generator. Without it, a neighbour's draws land in the middle
/// of the stream, in an order that depends on thread timing.
pub fn cpu_random_numbers() -> MutexGuard<'static, ()> {
    static GENERATOR: Mutex<()> = Mutex::new(());
    // A test that panicked while holding the guard left the generator in some state; the next
    // test reseeds it anyway.
    GENERATOR.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `command` to the end and returns the JSON object it printed last: a program's summary
/// after its progress lines. Panics, showing both outputs, where it fails or prints none;
/// `what` names the run in that message.
pub fn json_summary(command: &mut Command, what: &str) -> Value {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    last_json_line(&stdout)
        .unwrap_or_else(|| panic!("{what} printed no JSON object:\n{stdout}\n{stderr}"))
}

/// The last line of `stdout` that is a JSON object.
pub fn last_json_line(stdout: &str) -> Option<Value> {
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e} in the line {l}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_json_object_is_the_summary() {
        let stdout = "compiling\n{\"step\": 1}\nstep 2 done\n{\"steps\": 2}\nbye\n";
        assert_eq!(
            last_json_line(stdout),
            Some(serde_json::json!({"steps": 2}))
        );
        assert_eq!(last_json_line("no summary\n"), None);
    }

    #[test]
    fn what_is_there_runs_and_what_is_missing_skips() {
        let unset = "DMN_TEST_SUPPORT_UNSET_VARIABLE";
        assert!(require(unset, Ok(()), "nothing"));
        assert!(!require(unset, Err("it is missing".into()), "the thing"));
        assert_eq!(opted_in(unset, "the thing"), None);
    }

    #[test]
    #[should_panic(expected = "PATH is set but it is missing")]
    fn what_is_missing_fails_where_it_is_required() {
        // PATH is set in every test environment.
        require("PATH", Err("it is missing".into()), "the thing");
    }

    #[test]
    fn a_command_that_prints_a_summary_returns_it() {
        let mut echo = Command::new("sh");
        echo.args(["-c", "echo progress; echo '{\"ok\": true}'"]);
        assert_eq!(json_summary(&mut echo, "echo")["ok"], true);
    }

    #[test]
    #[should_panic(expected = "false failed")]
    fn a_failing_command_panics_with_its_output() {
        json_summary(&mut Command::new("false"), "false");
    }
}
