//! The reliability scenarios (issue 8) against fakecuda, in both runtime builds: no
//! hang, the program's own end, exact accounting under fork, exec, signals, exit and
//! stress. The same checks run on the GPU machine (`pinguard-manifest-run --reliability`).

#[path = "../../testing/support/mod.rs"]
mod support;

use pinguard_harness::reliability::{self, Scale};

fn check(name: &str) {
    let setup = support::fake_setup();
    let only = [name.to_string()];
    let tally = reliability::run_all(setup, &["dynamic", "static"], Scale::Full, &only, |line| eprintln!("{line}"));
    assert_eq!(tally.passed, 2, "{}", tally.failures.join("\n\n"));
}

#[test]
fn sigterm_handler_calling_exit_never_hangs() {
    check("sigterm_exit");
}

#[test]
fn a_child_forked_during_initialisation_does_not_hang() {
    check("fork_init");
}

#[test]
fn fork_children_count_their_own_work_only() {
    check("fork_counts");
}

#[test]
fn copies_at_teardown_are_counted_and_the_summary_comes_last() {
    check("teardown");
}

#[test]
fn a_thread_copying_at_exit_never_follows_the_summary() {
    check("teardown_thread");
}

#[test]
fn lines_never_go_to_a_reused_fd_2() {
    check("stderr_reuse");
}

#[test]
fn a_refused_release_never_brings_a_range_back() {
    check("unregister_race");
}

#[test]
fn every_way_out_ends_as_without_pinguard() {
    check("way_out");
}

#[test]
fn fork_exec_spawn_vfork_and_system_children_report_their_own_work() {
    check("spawner");
}

#[test]
fn sixteen_threads_of_mixed_operations_account_exactly() {
    check("stress");
}

#[test]
fn a_child_forked_while_a_thread_reads_unwind_rules_never_hangs() {
    check("fork_finding");
}

#[test]
fn threads_with_small_stacks_never_overflow() {
    check("small_stack");
}

#[test]
fn pinguard_takes_little_of_a_threads_stack() {
    check("stack_share");
}

#[test]
fn a_copy_from_a_signal_handler_never_crashes_the_program() {
    check("signal_copy");
}

#[test]
fn a_raw_fork_child_reports_its_own_work_only() {
    check("raw_fork");
}

#[test]
fn copies_in_other_libraries_destructors_are_counted_and_said() {
    check("late_destructor");
}

#[test]
fn lines_never_go_to_an_fd_2_replaced_before_the_first_cuda_call() {
    check("stderr_early");
}

#[test]
fn memory_refused_stops_pinguard_not_the_program() {
    check("out_of_memory");
}
