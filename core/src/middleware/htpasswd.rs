//! An Apache `htpasswd` file: users and their password hashes (bcrypt
//! `$2y$`, MD5 `$apr1$`, SHA-1 `{SHA}`), and checking a password against
//! one. Plaintext and `crypt(3)` entries are refused when the file is read.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// One user's stored hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hash {
    /// `$2y$`, `$2a$`, `$2b$`: bcrypt (the whole string).
    Bcrypt(String),
    /// `$apr1$salt$hash`: Apache's MD5 crypt.
    Apr1 {
        /// Up to 8 salt characters.
        salt: String,
        /// The 22-character encoded hash.
        hash: String,
    },
    /// `{SHA}` + base64 of SHA-1 (unsalted; as htpasswd -s makes it).
    Sha1([u8; 20]),
}

/// Reads an htpasswd file; errors name their line.
pub fn parse(text: &str) -> Result<HashMap<String, Hash>, Vec<String>> {
    let mut users = HashMap::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", i + 1);
        let Some((user, stored)) = line.split_once(':') else {
            problems.push(bad("expected user:hash"));
            continue;
        };
        let hash = if stored.starts_with("$2y$")
            || stored.starts_with("$2a$")
            || stored.starts_with("$2b$")
        {
            Some(Hash::Bcrypt(stored.to_owned()))
        } else if let Some(rest) = stored.strip_prefix("$apr1$") {
            rest.split_once('$').map(|(salt, hash)| Hash::Apr1 {
                salt: salt.to_owned(),
                hash: hash.to_owned(),
            })
        } else if let Some(b64) = stored.strip_prefix("{SHA}") {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .ok()
                .and_then(|d| <[u8; 20]>::try_from(d).ok())
                .map(Hash::Sha1)
        } else {
            problems.push(bad(&format!(
                "user {user:?}: plaintext or crypt(3) password; use bcrypt (htpasswd -B), MD5 (-m) or SHA (-s)"
            )));
            continue;
        };
        match hash {
            Some(h) => {
                users.insert(user.to_owned(), h);
            }
            None => problems.push(bad(&format!("user {user:?}: malformed hash"))),
        }
    }
    if problems.is_empty() {
        Ok(users)
    } else {
        Err(problems)
    }
}

impl Hash {
    /// True when `password` is the one stored (constant-time comparisons).
    pub fn check(&self, password: &[u8]) -> bool {
        match self {
            Hash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            Hash::Apr1 { salt, hash } => apr1(password, salt.as_bytes())
                .as_bytes()
                .ct_eq(hash.as_bytes())
                .into(),
            Hash::Sha1(d) => {
                let got: [u8; 20] = Sha1::digest(password).into();
                got.ct_eq(d).into()
            }
        }
    }
}

/// The alphabet of crypt's base 64.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Apache's `$apr1$` MD5 crypt of `password` with `salt` (the encoded
/// hash part, 22 characters). No crate in common use implements it.
pub fn apr1(password: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(b"$apr1$");
    ctx.update(salt);
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut left = password.len();
    while left > 0 {
        ctx.update(&alt[..left.min(16)]);
        left = left.saturating_sub(16);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = String::with_capacity(22);
    let mut put = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            u32::from(fin[a]) << 16 | u32::from(fin[b]) << 8 | u32::from(fin[c]),
            4,
        );
    }
    put(u32::from(fin[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apr1_matches_apaches_vectors() {
        assert_eq!(apr1(b"password", b"lZL6V/ci"), "eIMz/iKDkbtys/uU7LEK00");
        assert_eq!(apr1(b"password", b"RandSalt"), "PgCXHRrkpSt4cbyC2C6bm/");
    }

    #[test]
    fn every_scheme_checks_and_plaintext_is_refused() {
        let bc = bcrypt::hash_with_result("password", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        let users = parse(&format!(
            "# users\nmd5:$apr1$lZL6V/ci$eIMz/iKDkbtys/uU7LEK00\nsha:{{SHA}}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\nbc:{bc}\n"
        ))
        .unwrap();
        for (user, ok) in [("md5", "password"), ("sha", "password"), ("bc", "password")] {
            assert!(users[user].check(ok.as_bytes()), "{user}");
            assert!(!users[user].check(b"Password"), "{user}");
        }
        let e = parse("alice:hunter2\nbob\n").err().unwrap();
        assert_eq!(e.len(), 2);
        assert!(
            e[0].starts_with("line 1: user \"alice\": plaintext"),
            "{e:?}"
        );
    }
}
