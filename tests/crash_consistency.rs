//! SIGKILL at random moments while a child runs puts, overwrites, deletes, batches and merges in
//! every sync mode (the harness and its rules are in `tests/common/crash.rs`).
//!
//! A process kill loses nothing the OS accepted, so in every mode the reopened store must be
//! exactly the acknowledged state, plus or minus the one operation in flight (whole: a batch is
//! never half there). Default: 3 x 50 kills. `BITCASK_CRASH_SECS=3600` runs for an hour;
//! `BITCASK_CRASH_SEED` reruns a failing seed.

mod common;

use common::child_role;
#[path = "common/crash.rs"]
mod crash;

const TEST: &str = "sigkill_loses_no_acknowledged_op_in_any_sync_mode";

#[test]
fn sigkill_loses_no_acknowledged_op_in_any_sync_mode() {
    if let Some((role, dir)) = child_role() {
        crash::child(&role, &dir);
    }
    let tallies = crash::run(TEST, &["none", "always", "interval"], false, 50);
    for (mode, t) in &tallies {
        assert!(
            t.kills > 0 && t.acked_ops > 0,
            "mode {mode}: nothing ran: {t:?}"
        );
        assert_eq!(t.ops_lost, 0, "mode {mode}");
    }
    // The kills must land inside every kind of operation, or the test proves less than it says.
    let mut kinds = std::collections::BTreeSet::new();
    for (_, t) in &tallies {
        kinds.extend(t.in_flight.keys().copied());
    }
    let kills: u64 = tallies.iter().map(|(_, t)| t.kills).sum();
    // Deletes are not required: kills land where the time goes, and a delete (one small
    // append into a mapped file) is over too quickly to be hit reliably in a bounded run.
    for kind in ["put", "batch", "merge"] {
        if kills < 100 {
            break; // a short long-mode run may simply not have hit every kind
        }
        assert!(
            kinds.contains(kind),
            "no kill landed during a {kind}: {tallies:?}"
        );
    }
}
