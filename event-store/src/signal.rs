//! The in-process commit signal: the command bus says after every commit
//! that events were committed; a relay leading in this process wakes on it,
//! and otherwise one coalesced notification tells a relay elsewhere
//! (`relay::announce_commits`).

use std::sync::LazyLock;

use tokio::sync::watch;

/// Commits of events made by this process, counted.
static COMMITS: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Says that this process committed events (the command bus calls it after
/// every commit; tests that write events by other means call it too).
pub fn committed() {
    COMMITS.send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver that changes after each of this process's commits (several
/// commits between two looks are seen as one change).
pub fn commits() -> watch::Receiver<u64> {
    COMMITS.subscribe()
}
