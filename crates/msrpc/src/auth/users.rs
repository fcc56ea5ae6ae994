//! A server's NTLM accounts: the users file and the store it fills.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::config::split_user;

/// An error in a users file: which line and why. It never contains a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {reason}")]
pub struct UsersFileError {
    /// The file (or `<text>`).
    pub source_name: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

#[derive(Clone)]
struct UserEntry {
    domain: Option<String>,
    password: String,
}

/// The accounts a server accepts for NTLM: from a users file, or built in code.
///
/// The file has one account per line, `user:password` (any domain) or `DOMAIN\user:password`
/// (that domain only). The password is everything after the first `:`. Blank lines and lines
/// starting with `#` are ignored. User and domain names compare case-insensitively, as Windows
/// does. `Debug` shows the user names only.
#[derive(Clone, Default)]
pub struct UserStore {
    users: HashMap<String, Vec<UserEntry>>,
}

impl fmt::Debug for UserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.users.keys().collect();
        names.sort();
        f.debug_struct("UserStore").field("users", &names).finish()
    }
}

impl UserStore {
    /// An empty store (refuses everyone).
    pub fn new() -> UserStore {
        UserStore::default()
    }

    /// Adds an account; `user` may be `DOMAIN\user`.
    pub fn insert(&mut self, user: &str, password: impl Into<String>) {
        let (domain, name) = split_user(user);
        self.users
            .entry(name.to_lowercase())
            .or_default()
            .push(UserEntry {
                domain: (!domain.is_empty()).then(|| domain.to_lowercase()),
                password: password.into(),
            });
    }

    /// Parses users-file text; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<UserStore, UsersFileError> {
        let mut store = UserStore::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |reason: &str| UsersFileError {
                source_name: source_name.to_owned(),
                line: i + 1,
                reason: reason.to_owned(),
            };
            let Some((user, password)) = line.split_once(':') else {
                return Err(err("expected USER:PASSWORD or DOMAIN\\USER:PASSWORD"));
            };
            let user = user.trim();
            let (domain, name) = split_user(user);
            if name.is_empty() {
                return Err(err("the user name is empty"));
            }
            if user.contains('\\') && domain.is_empty() {
                return Err(err("the domain before '\\' is empty"));
            }
            if password.is_empty() {
                return Err(err("the password is empty"));
            }
            store.insert(user, password);
        }
        Ok(store)
    }

    /// Reads a users file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<UserStore, UsersFileError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| UsersFileError {
            source_name: name.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        UserStore::parse(&text, &name)
    }

    /// Accounts in the store.
    pub fn len(&self) -> usize {
        self.users.values().map(Vec::len).sum()
    }

    /// True if the store has no account.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The password for `user` in `domain`, if the store has the account.
    pub(super) fn password(&self, user: &str, domain: &str) -> Option<&str> {
        let entries = self.users.get(&user.to_lowercase())?;
        let domain = domain.to_lowercase();
        entries
            .iter()
            .find(|e| e.domain.as_deref() == Some(domain.as_str()))
            .or_else(|| entries.iter().find(|e| e.domain.is_none()))
            .map(|e| e.password.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn users_file_parses_and_reports_bad_lines_without_passwords() {
        let text = "# accounts\n\nalice:s3cret!\nCORP\\bob:pa:ss\n";
        let store = UserStore::parse(text, "users.txt").unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.password("ALICE", "anything"), Some("s3cret!"));
        assert_eq!(store.password("bob", "corp"), Some("pa:ss"));
        assert_eq!(store.password("bob", "other"), None);
        assert!(!format!("{store:?}").contains("s3cret"));
        let e = UserStore::parse("alice:ok\nno-colon-hunter2\n", "u").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(UserStore::parse(":pw\n", "u").unwrap_err().line, 1);
        assert_eq!(UserStore::parse("\\bob:pw\n", "u").unwrap_err().line, 1);
        assert_eq!(UserStore::parse("bob:\n", "u").unwrap_err().line, 1);
    }
}
