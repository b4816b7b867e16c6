//! Who may call what: a token's scope against what a call does, a runner
//! token's environments against the turns it claims, and what a new token
//! may be issued with.

use runway_api::enums::TokenScope;

use crate::error::{Reason, ServiceError, ServiceResult};

/// What a call does, as far as scopes go. Every RPC names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads resources: gets, lists, streams, stats.
    Read,
    /// Changes deployments, runs, agents, environments, sessions, webhooks.
    Write,
    /// A runner's work: RunnerService.
    Run,
    /// Issues, reads and revokes tokens.
    Tokens,
    /// Changes retention rules (the organization's policy, a deployment's
    /// own): they delete history.
    Retention,
    /// Reads the calling token itself: every token may know what it is.
    OwnToken,
}

/// The environment list that means every environment of the organization.
pub const ALL_ENVIRONMENTS: &str = "*";

/// At most this many environments on one runner token.
pub const MAX_TOKEN_ENVIRONMENTS: usize = 100;

/// True when a token of `scope` may make a call that does `access`.
pub const fn allows(scope: TokenScope, access: Access) -> bool {
    if matches!(access, Access::OwnToken) {
        return true;
    }
    match scope {
        TokenScope::Admin => true,
        TokenScope::Write => matches!(access, Access::Read | Access::Write),
        TokenScope::Read => matches!(access, Access::Read),
        TokenScope::Runner => matches!(access, Access::Run),
    }
}

/// PERMISSION_DENIED unless `scope` allows `access`.
pub fn require(scope: TokenScope, access: Access) -> ServiceResult<()> {
    if allows(scope, access) {
        return Ok(());
    }
    let what = match access {
        Access::Read => "read resources",
        Access::Write => "change resources",
        Access::Run => "execute runs (RunnerService)",
        Access::Tokens => "manage tokens",
        Access::Retention => "change retention rules",
        Access::OwnToken => "read its own token",
    };
    Err(ServiceError::PermissionDenied {
        reason: Reason::ScopeInsufficient,
        message: format!("A {scope} token may not {what}."),
    })
}

/// Which environments a claim may take a turn from: `None` any of the
/// organization's, or these.
///
/// An admin token claims from `requested` (or anywhere); a runner token
/// only from its environments: `requested` must be one of them, and no
/// `requested` means any of them.
pub fn claimable(
    scope: TokenScope,
    token_environments: &[String],
    requested: Option<&str>,
) -> ServiceResult<Option<Vec<String>>> {
    let every =
        scope != TokenScope::Runner || token_environments.iter().any(|e| e == ALL_ENVIRONMENTS);
    match requested {
        Some(env) if every || token_environments.iter().any(|e| e == env) => {
            Ok(Some(vec![env.to_string()]))
        }
        Some(env) => Err(ServiceError::PermissionDenied {
            reason: Reason::EnvironmentNotAllowed,
            message: format!("This runner token may not execute the turns of environment {env}."),
        }),
        None if every => Ok(None),
        None => Ok(Some(token_environments.to_vec())),
    }
}

/// Checks a new token's environments against its scope: a runner token
/// names 1–100 distinct environments or `*` alone; other scopes none.
/// Field errors name `environment_ids`.
pub fn check_new_token(scope: TokenScope, environment_ids: &[String]) -> ServiceResult<()> {
    let field = "environment_ids";
    if scope != TokenScope::Runner {
        if !environment_ids.is_empty() {
            return Err(ServiceError::invalid(
                field,
                format!("environment_ids is only for runner tokens; a {scope} token has none"),
            ));
        }
        return Ok(());
    }
    if environment_ids.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "a runner token needs environment_ids: the environments it executes, or [\"*\"] for all",
        ));
    }
    if environment_ids.len() > MAX_TOKEN_ENVIRONMENTS {
        return Err(ServiceError::invalid(
            field,
            format!(
                "environment_ids may hold at most {MAX_TOKEN_ENVIRONMENTS} environments, got {}",
                environment_ids.len()
            ),
        ));
    }
    if environment_ids.len() > 1 && environment_ids.iter().any(|e| e == ALL_ENVIRONMENTS) {
        return Err(ServiceError::invalid(
            field,
            "\"*\" means every environment and stands alone",
        ));
    }
    for (i, env) in environment_ids.iter().enumerate() {
        if environment_ids[..i].contains(env) {
            return Err(ServiceError::invalid(
                field,
                format!("environment_ids names {env} twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use runway_api::enums::TokenScope::*;

    #[test]
    fn scopes_nest_except_runner() {
        let table = [
            (Admin, [true, true, true, true, true, true]),
            (Write, [true, true, false, false, false, true]),
            (Read, [true, false, false, false, false, true]),
            (Runner, [false, false, true, false, false, true]),
        ];
        for (scope, expected) in table {
            let got = [
                Access::Read,
                Access::Write,
                Access::Run,
                Access::Tokens,
                Access::Retention,
                Access::OwnToken,
            ]
            .map(|access| allows(scope, access));
            assert_eq!(got, expected, "{scope}");
        }
        assert_eq!(
            TokenScope::ALL.len(),
            table.len(),
            "every scope is in the table"
        );
    }

    #[test]
    fn refusals_name_the_scope_and_the_reason() {
        let err = require(Read, Access::Write).unwrap_err();
        assert!(matches!(
            &err,
            ServiceError::PermissionDenied { reason: Reason::ScopeInsufficient, message }
                if message == "A read token may not change resources."
        ));
    }

    fn envs(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runner_tokens_claim_only_their_environments() {
        let mine = envs(&["env_a", "env_b"]);
        assert_eq!(
            claimable(Runner, &mine, Some("env_a")).unwrap(),
            Some(envs(&["env_a"]))
        );
        assert_eq!(claimable(Runner, &mine, None).unwrap(), Some(mine.clone()));
        assert!(matches!(
            claimable(Runner, &mine, Some("env_c")),
            Err(ServiceError::PermissionDenied {
                reason: Reason::EnvironmentNotAllowed,
                ..
            })
        ));
        let all = envs(&["*"]);
        assert_eq!(claimable(Runner, &all, None).unwrap(), None);
        assert_eq!(
            claimable(Runner, &all, Some("env_c")).unwrap(),
            Some(envs(&["env_c"]))
        );
        assert_eq!(claimable(Admin, &[], None).unwrap(), None);
        assert_eq!(
            claimable(Admin, &[], Some("env_c")).unwrap(),
            Some(envs(&["env_c"]))
        );
    }

    #[test]
    fn new_tokens_name_environments_only_when_runners() {
        assert!(check_new_token(Admin, &[]).is_ok());
        assert!(check_new_token(Read, &envs(&["env_a"])).is_err());
        assert!(check_new_token(Runner, &[]).is_err());
        assert!(check_new_token(Runner, &envs(&["*"])).is_ok());
        assert!(check_new_token(Runner, &envs(&["*", "env_a"])).is_err());
        assert!(check_new_token(Runner, &envs(&["env_a", "env_a"])).is_err());
        assert!(check_new_token(Runner, &envs(&["env_a", "env_b"])).is_ok());
        let many: Vec<String> = (0..=MAX_TOKEN_ENVIRONMENTS)
            .map(|i| format!("env_{i}"))
            .collect();
        assert!(check_new_token(Runner, &many).is_err());
    }
}
