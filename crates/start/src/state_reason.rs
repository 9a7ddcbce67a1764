//! EC2 `StateReason` codes: the one list of those that mean a start or
//! launch failed, and the causes some of them name by themselves.
//! Correlation (did it fail?) and the rules (why?) both read them here.

use crate::diagnosis::Cause;

/// `StateReason` codes that mean the start or launch itself failed.
/// `Client.InstanceInitiatedShutdown` and `Client.UserInitiatedShutdown`
/// are normal stops and are not here.
pub const LAUNCH_FAILURE_CODES: [&str; 6] = [
    "Client.InternalError",
    "Server.InternalError",
    "Server.InsufficientInstanceCapacity",
    "Client.VolumeLimitExceeded",
    "Client.InvalidSnapshot.NotFound",
    "Client.InvalidKMSKey.InvalidState",
];

/// Whether `code` means the start or launch failed.
pub fn is_launch_failure(code: &str) -> bool {
    LAUNCH_FAILURE_CODES.contains(&code)
}

/// The cause a `StateReason` code names by itself, if any.
pub fn cause_of(code: &str) -> Option<Cause> {
    match code {
        "Server.InsufficientInstanceCapacity" => Some(Cause::InsufficientCapacity),
        "Client.VolumeLimitExceeded" => Some(Cause::VolumeLimitExceeded),
        "Client.InvalidSnapshot.NotFound" => Some(Cause::SnapshotNotFound),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_reasons_that_name_their_cause() {
        assert_eq!(
            cause_of("Server.InsufficientInstanceCapacity"),
            Some(Cause::InsufficientCapacity)
        );
        assert_eq!(
            cause_of("Client.VolumeLimitExceeded"),
            Some(Cause::VolumeLimitExceeded)
        );
        assert_eq!(
            cause_of("Client.InvalidSnapshot.NotFound"),
            Some(Cause::SnapshotNotFound)
        );
        assert_eq!(cause_of("Client.InternalError"), None);
    }

    #[test]
    fn normal_stops_are_not_launch_failures() {
        assert!(is_launch_failure("Client.InternalError"));
        assert!(is_launch_failure("Client.InvalidKMSKey.InvalidState"));
        assert!(!is_launch_failure("Client.UserInitiatedShutdown"));
        assert!(!is_launch_failure("Client.InstanceInitiatedShutdown"));
    }
}
