//! Sign-ins: a random id in an HttpOnly, SameSite=Strict cookie, mapped in
//! this process's memory to the token and the session's CSRF token. The
//! token itself never reaches the browser after sign-in: not in a cookie,
//! a URL or a page.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use rand::RngCore;

/// The cookie's name over plain HTTP; over TLS it is `__Host-` prefixed
/// (bound to this host and path `/`, `Secure`).
pub const COOKIE_NAME: &str = "runway_session";

/// A sign-in unused this long ends (the next page asks to sign in again).
const IDLE_LIMIT: Duration = Duration::from_secs(12 * 3600);
/// Sign-ins held at once; the least recently used go first past it.
const MAX_SESSIONS: u64 = 100_000;

/// One signed-in browser.
#[derive(Debug)]
pub struct Session {
    pub id: String,
    /// The token every API call of this browser carries.
    pub token: String,
    /// Every form of this session carries it; a POST without it is refused.
    pub csrf: String,
    /// Signed in with a `read` token: the pages show no control that
    /// changes anything (the API would refuse it, 403).
    pub read_only: bool,
}

/// The sign-ins of this process.
pub struct Sessions {
    cache: moka::sync::Cache<String, Arc<Session>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(MAX_SESSIONS)
                .time_to_idle(IDLE_LIMIT)
                .build(),
        }
    }
}

impl Sessions {
    /// Signs `token` in under a new, unguessable id.
    pub fn open(&self, token: String, read_only: bool) -> Arc<Session> {
        let session = Arc::new(Session {
            id: random_hex(),
            token,
            csrf: random_hex(),
            read_only,
        });
        self.cache.insert(session.id.clone(), session.clone());
        session
    }

    pub fn find(&self, id: &str) -> Option<Arc<Session>> {
        self.cache.get(id)
    }

    pub fn close(&self, id: &str) {
        self.cache.invalidate(id);
    }
}

/// 256 random bits, hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cookie_name(secure: bool) -> String {
    if secure {
        format!("__Host-{COOKIE_NAME}")
    } else {
        COOKIE_NAME.to_string()
    }
}

/// The `Set-Cookie` value that signs this browser in as `session`.
pub fn set_cookie(secure: bool, session: &Session) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict{secure_attr}",
        cookie_name(secure),
        session.id
    ))
    .expect("hex is a valid header value")
}

/// The `Set-Cookie` value that forgets the sign-in.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let secure_attr = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure_attr}",
        cookie_name(secure)
    ))
    .expect("a valid header value")
}

/// The session id the request's cookie carries, if any.
pub fn session_id(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_under_tls() {
        let sessions = Sessions::default();
        let session = sessions.open("rw_secret".into(), false);
        let plain = set_cookie(false, &session);
        assert_eq!(
            plain.to_str().unwrap(),
            format!(
                "runway_session={}; Path=/; HttpOnly; SameSite=Strict",
                session.id
            )
        );
        let tls = set_cookie(true, &session);
        assert_eq!(
            tls.to_str().unwrap(),
            format!(
                "__Host-runway_session={}; Path=/; HttpOnly; SameSite=Strict; Secure",
                session.id
            )
        );
        assert!(!plain.to_str().unwrap().contains("rw_secret"));
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_gone_after_close() {
        let sessions = Sessions::default();
        let session = sessions.open("t".into(), false);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; runway_session={}", session.id)).unwrap(),
        );
        let id = session_id(&headers, false).unwrap();
        assert_eq!(sessions.find(&id).unwrap().token, "t");
        assert_eq!(session_id(&headers, true), None);
        sessions.close(&id);
        assert!(sessions.find(&id).is_none());
    }

    #[test]
    fn ids_and_csrf_tokens_are_distinct_and_long() {
        let sessions = Sessions::default();
        let (a, b) = (
            sessions.open("t".into(), false),
            sessions.open("t".into(), false),
        );
        assert_eq!(a.id.len(), 64);
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, a.csrf);
    }
}
