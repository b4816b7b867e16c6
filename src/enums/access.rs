//! What a token may do.

closed_set! {
    /// What a token may do.
    pub enum TokenScope: proto TokenScope {
        /// Everything, tokens included.
        Admin = "admin",
        /// Every resource but tokens; not RunnerService.
        Write = "write",
        /// Only the calls that read.
        Read = "read",
        /// Only RunnerService, for the environments named on the token.
        Runner = "runner",
    }
}
