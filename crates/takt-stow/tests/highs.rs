//! The re-packing step with HiGHS: takt-stow's re-packing tests built with
//! the `highs` feature and run, so the solver the benchmarks use is tested
//! by the same suite as the default one (microlp). Building HiGHS needs
//! cmake, libclang and a C++ compiler; when they are missing they are
//! installed with apt-get (as the PostgreSQL tests install their server).
//! The build has a target directory of its own (`target/highs-test`) and
//! takes a few minutes the first time.

use std::path::Path;
use std::process::Command;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", cmd])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_repack_tests_pass_with_highs() {
    let tools = "command -v cmake >/dev/null && command -v c++ >/dev/null \
                 && ldconfig -p | grep -q 'libclang[-.0-9]*\\.so'";
    if !have(tools) {
        let installed = have(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq cmake libclang-dev g++ >/dev/null",
        );
        assert!(
            installed && have(tools),
            "building HiGHS needs cmake, libclang and a C++ compiler, and \
             `apt-get install cmake libclang-dev g++` failed"
        );
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let run = |target: &[&str], must_run: &str| {
        let output = Command::new(&cargo)
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", workspace.join("target/highs-test"))
            .args(["test", "--locked", "-p", "takt-stow", "--features", "highs"])
            .args(target)
            .output()
            .expect("cargo runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "takt-stow's tests with --features highs failed:\n{stdout}\n{stderr}"
        );
        // The tests ran (not filtered away to nothing).
        assert!(stdout.contains(&format!("{must_run} ... ok")), "{stdout}");
    };
    // The re-packing step itself, and its time limit on a clock.
    run(
        &["--lib", "repack"],
        "a_step_on_a_plain_table_costs_what_the_model_says",
    );
    // The planner with its steps, on a clock: ends in time, feasible.
    run(
        &["--test", "stow", "timed_runs"],
        "timed_runs_on_two_threads_pass_the_checker_and_end_in_time",
    );
}
