//! Keytab files (the MIT/Heimdal format, version 0x0502, that `ktutil`, `kadmin ktadd` and
//! `samba-tool domain exportkeytab` write): parsing only, bounded, no cryptography.
//!
//! Layout (all integers big-endian): a 2-byte version `05 02`, then records, each a signed 4-byte
//! length followed by that many bytes (a negative length is a hole of that many bytes). A record:
//! component count (2), realm (2-byte length + bytes), the components (likewise), name type (4),
//! timestamp (4), key version (1), key type (2), key (2-byte length + bytes), and, when at least
//! 4 bytes remain, a 4-byte key version that replaces the 1-byte one unless it is 0.

use std::fmt;
use std::path::Path;

use super::be_reader::BeReader;
use msrpc_proto::auth::{AuthError, AuthFailure};

/// The largest keytab file read (`Keytab::from_file`); a real one is a few hundred bytes per key.
pub const MAX_KEYTAB_BYTES: usize = 1024 * 1024;

/// Kerberos encryption type numbers (RFC 3962, RFC 8009) msrpc can use.
pub(crate) const AES128_CTS_HMAC_SHA1_96: i32 = 17;
/// AES256 with HMAC-SHA1-96 (RFC 3962), AD's default.
pub(crate) const AES256_CTS_HMAC_SHA1_96: i32 = 18;

/// One key of a keytab. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeytabEntry {
    /// The principal's components (`["host", "srv1.example"]` for `host/srv1.example`).
    pub components: Vec<String>,
    /// The realm.
    pub realm: String,
    /// The key version number.
    pub kvno: u32,
    /// The encryption type (18 is AES256, 17 AES128, 23 RC4).
    pub enctype: i32,
    key: Vec<u8>,
}

impl KeytabEntry {
    /// The principal without the realm, `host/srv1.example`.
    pub fn principal(&self) -> String {
        self.components.join("/")
    }

    /// The key bytes.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for KeytabEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeytabEntry")
            .field("principal", &self.principal())
            .field("realm", &self.realm)
            .field("kvno", &self.kvno)
            .field("enctype", &self.enctype)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The keys of a keytab file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keytab {
    entries: Vec<KeytabEntry>,
}

impl Keytab {
    /// Reads a keytab file (at most [`MAX_KEYTAB_BYTES`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Keytab, AuthError> {
        use std::io::Read;
        let path = path.as_ref();
        let bad = |why: String| AuthError::new(AuthFailure::Package, why);
        let file = std::fs::File::open(path)
            .map_err(|e| bad(format!("keytab {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        file.take(MAX_KEYTAB_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("keytab {}: {e}", path.display())))?;
        if bytes.len() > MAX_KEYTAB_BYTES {
            return Err(bad(format!(
                "keytab {}: larger than {MAX_KEYTAB_BYTES} bytes",
                path.display()
            )));
        }
        Keytab::parse(&bytes).map_err(|e| bad(format!("keytab {}: {}", path.display(), e.detail)))
    }

    /// Parses keytab bytes.
    pub fn parse(bytes: &[u8]) -> Result<Keytab, AuthError> {
        let mut r = BeReader::new(bytes, malformed);
        match r.u16()? {
            0x0502 => {}
            0x0501 => {
                return Err(malformed(
                    "version 0x0501 (native byte order) is not supported",
                ));
            }
            v => return Err(malformed(&format!("unknown version {v:#06x}"))),
        }
        let mut entries = Vec::new();
        while !r.is_empty() {
            let len = r.u32()? as i32;
            let n = len.unsigned_abs() as usize;
            let record = r.take(n)?;
            if len > 0 {
                entries.push(parse_entry(record)?);
            }
        }
        Ok(Keytab { entries })
    }

    /// Every key, in file order.
    pub fn entries(&self) -> &[KeytabEntry] {
        &self.entries
    }

    /// The key msrpc uses for `principal` (`SERVICE/HOST`, any realm when `realm` is `None`):
    /// the highest key version, and in it AES256 over AES128. Other enctypes are not usable.
    pub fn best_key(&self, principal: &str, realm: Option<&str>) -> Option<&KeytabEntry> {
        self.entries
            .iter()
            .filter(|e| e.principal().eq_ignore_ascii_case(principal))
            .filter(|e| realm.is_none_or(|r| e.realm.eq_ignore_ascii_case(r)))
            .filter(|e| matches!(e.enctype, AES128_CTS_HMAC_SHA1_96 | AES256_CTS_HMAC_SHA1_96))
            .max_by_key(|e| (e.kvno, e.enctype == AES256_CTS_HMAC_SHA1_96))
    }
}

fn parse_entry(record: &[u8]) -> Result<KeytabEntry, AuthError> {
    let mut r = BeReader::new(record, malformed);
    let count = r.u16()?;
    let realm = string(&mut r)?;
    let mut components = Vec::new();
    for _ in 0..count {
        components.push(string(&mut r)?);
    }
    let _name_type = r.u32()?;
    let _timestamp = r.u32()?;
    let kvno8 = r.take(1)?[0];
    let enctype = i32::from(r.u16()? as i16);
    let key_len = usize::from(r.u16()?);
    let key = r.take(key_len)?.to_vec();
    let mut kvno = u32::from(kvno8);
    if r.remaining() >= 4 {
        let v = r.u32()?;
        if v != 0 {
            kvno = v;
        }
    }
    if components.is_empty() {
        return Err(malformed("a key without a principal"));
    }
    Ok(KeytabEntry {
        components,
        realm,
        kvno,
        enctype,
        key,
    })
}

fn malformed(why: &str) -> AuthError {
    AuthError::new(AuthFailure::Package, format!("malformed keytab: {why}"))
}

/// A keytab string: a 2-byte length and that many bytes of UTF-8.
fn string(r: &mut BeReader<'_>) -> Result<String, AuthError> {
    let n = usize::from(r.u16()?);
    r.utf8(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(
        components: &[&str],
        kvno: u8,
        enctype: u16,
        key: &[u8],
        kvno32: Option<u32>,
    ) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend_from_slice(&(components.len() as u16).to_be_bytes());
        for s in std::iter::once(&"EXAMPLE.TEST").chain(components) {
            e.extend_from_slice(&(s.len() as u16).to_be_bytes());
            e.extend_from_slice(s.as_bytes());
        }
        e.extend_from_slice(&1u32.to_be_bytes());
        e.extend_from_slice(&0x6000_0000u32.to_be_bytes());
        e.push(kvno);
        e.extend_from_slice(&enctype.to_be_bytes());
        e.extend_from_slice(&(key.len() as u16).to_be_bytes());
        e.extend_from_slice(key);
        if let Some(v) = kvno32 {
            e.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = (e.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&e);
        out
    }

    #[test]
    fn keytab_entries_parse_and_the_best_key_is_the_newest_aes256() {
        let mut file = vec![5, 2];
        file.extend(entry(
            &["host", "srv1.example.test"],
            2,
            17,
            &[1; 16],
            Some(2),
        ));
        file.extend(entry(&["host", "srv1.example.test"], 2, 18, &[2; 32], None));
        // A hole left by a deleted entry.
        file.extend_from_slice(&(-6i32).to_be_bytes());
        file.extend_from_slice(&[0; 6]);
        file.extend(entry(
            &["host", "srv1.example.test"],
            1,
            18,
            &[3; 32],
            Some(300),
        ));
        file.extend(entry(
            &["host", "srv1.example.test"],
            9,
            23,
            &[4; 16],
            Some(900),
        ));
        let kt = Keytab::parse(&file).unwrap();
        assert_eq!(kt.entries().len(), 4);
        assert_eq!(kt.entries()[0].principal(), "host/srv1.example.test");
        assert_eq!(kt.entries()[0].realm, "EXAMPLE.TEST");
        assert_eq!(kt.entries()[2].kvno, 300, "the 32-bit kvno wins");
        let best = kt
            .best_key("HOST/srv1.example.test", Some("example.test"))
            .unwrap();
        assert_eq!(
            (best.kvno, best.enctype, best.key()),
            (300, 18, &[3u8; 32][..])
        );
        assert!(kt.best_key("host/other", None).is_none());
        assert!(!format!("{kt:?}").contains("[3, 3"), "Debug hides keys");
    }

    #[test]
    fn malformed_keytabs_are_errors_not_panics() {
        assert!(Keytab::parse(&[]).is_err());
        assert!(Keytab::parse(&[5, 1]).is_err());
        assert!(
            Keytab::parse(&[5, 2, 0, 0, 0, 50, 0, 1]).is_err(),
            "truncated record"
        );
        let mut file = vec![5, 2];
        file.extend(entry(&["host", "x"], 1, 18, &[1; 32], None));
        for cut in 2..file.len() {
            let _ = Keytab::parse(&file[..cut]);
        }
        // A record whose key length runs past its end.
        let mut bad = file.clone();
        let key_len_at = bad.len() - 32 - 2;
        bad[key_len_at] = 0xff;
        assert!(Keytab::parse(&bad).is_err());
        assert_eq!(Keytab::parse(&[5, 2]).unwrap().entries().len(), 0);
    }
}
