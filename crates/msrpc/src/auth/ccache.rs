//! MIT credential caches (the FILE type, format version 0x0504, that MIT `kinit` writes and
//! `KRB5CCNAME=FILE:PATH` names): parsing only, bounded, no cryptography. A client that has a TGT
//! in one logs on without a password ([`AuthInfo::with_ccache`](super::AuthInfo::with_ccache)).
//!
//! Layout (MIT's "Credential cache file format"; every integer big-endian): a 2-byte version
//! `05 04`, a 2-byte header length and that many bytes of tagged header fields (tag 1: the KDC
//! time offset), the default principal, then credentials to the end of the file. A principal:
//! name type (4), component count (4), the realm and each component as a 4-byte length and its
//! bytes. A credential: client and server principals, the session key (enctype (2), then a
//! 4-byte length and the key), authtime, starttime, endtime and renew-till (4 each, seconds since
//! 1970), is-skey (1), ticket flags (4), addresses (a 4-byte count, each a 2-byte type and 4-byte
//! length-prefixed data), authorization data (the same shape), the ticket and the second ticket
//! (4-byte length-prefixed DER). Entries whose server realm is `X-CACHECONF:` are MIT's
//! configuration records, not tickets.

use std::fmt;
use std::path::Path;

use super::be_reader::BeReader;
use msrpc_proto::auth::{AuthError, AuthFailure};

/// The largest credential cache file read ([`Ccache::from_file`]); a TGT entry is about 1-2 KiB
/// (AD tickets carry a PAC), so this is room for hundreds of tickets.
pub const MAX_CCACHE_BYTES: usize = 1024 * 1024;
/// The most credentials read from one cache.
pub const MAX_CCACHE_CREDENTIALS: usize = 1024;
/// The most components of a principal, and the most addresses or authorization-data entries of
/// a credential.
pub const MAX_CCACHE_COUNT: usize = 64;

/// The realm MIT uses for its configuration entries.
const CONF_REALM: &str = "X-CACHECONF:";

/// A Kerberos principal as a credential cache holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CcachePrincipal {
    /// The name type (1 principal, 2 service instance, ...).
    pub name_type: u32,
    /// The realm.
    pub realm: String,
    /// The components (`["krbtgt", "REALM"]`).
    pub components: Vec<String>,
}

impl CcachePrincipal {
    /// The principal without the realm, `krbtgt/REALM`.
    pub fn name(&self) -> String {
        self.components.join("/")
    }
}

impl fmt::Display for CcachePrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name(), self.realm)
    }
}

/// One ticket of a credential cache. `Debug` never shows the session key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CcacheCredential {
    /// Whose ticket.
    pub client: CcachePrincipal,
    /// For which service (`krbtgt/REALM@REALM` for a TGT).
    pub server: CcachePrincipal,
    /// The session key's encryption type (18 AES256, 17 AES128, 23 RC4).
    pub enctype: i32,
    key: Vec<u8>,
    /// Seconds since 1970 (UTC): when the ticket was issued, starts, and ends.
    pub authtime: u32,
    /// When the ticket becomes valid (0: at authtime).
    pub starttime: u32,
    /// When the ticket expires.
    pub endtime: u32,
    /// The ticket flags (RFC 4120 5.3, bit 0 the most significant).
    pub flags: u32,
    /// The ticket, DER (RFC 4120 5.3 `Ticket`).
    pub ticket: Vec<u8>,
}

impl CcacheCredential {
    /// The session key.
    pub(crate) fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether this is a ticket-granting ticket of `realm` (`krbtgt/REALM@REALM`, any case).
    pub fn is_tgt_of(&self, realm: &str) -> bool {
        self.server.components.len() == 2
            && self.server.components[0] == "krbtgt"
            && self.server.components[1].eq_ignore_ascii_case(realm)
            && self.server.realm.eq_ignore_ascii_case(realm)
    }
}

impl fmt::Debug for CcacheCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CcacheCredential")
            .field("client", &self.client.to_string())
            .field("server", &self.server.to_string())
            .field("enctype", &self.enctype)
            .field("endtime", &self.endtime)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A parsed credential cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ccache {
    /// The default principal (whose cache it is).
    pub principal: CcachePrincipal,
    /// The KDC time offset MIT recorded (header tag 1: seconds, microseconds), if any.
    pub time_offset: Option<(i32, i32)>,
    credentials: Vec<CcacheCredential>,
}

impl Ccache {
    /// Reads a credential cache file (at most [`MAX_CCACHE_BYTES`]). A `FILE:` prefix, as in
    /// `KRB5CCNAME`, is taken off; other cache types (`KEYRING:`, `KCM:`, `DIR:`, `MEMORY:`) are
    /// refused with a clear error.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Ccache, AuthError> {
        use std::io::Read;
        let path = resolve(path.as_ref())?;
        let bad = |why: String| AuthError::new(AuthFailure::LogonFailure, why);
        let file = std::fs::File::open(&path)
            .map_err(|e| bad(format!("credential cache {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        file.take(MAX_CCACHE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("credential cache {}: {e}", path.display())))?;
        if bytes.len() > MAX_CCACHE_BYTES {
            return Err(bad(format!(
                "credential cache {}: larger than {MAX_CCACHE_BYTES} bytes",
                path.display()
            )));
        }
        Ccache::parse(&bytes)
            .map_err(|e| bad(format!("credential cache {}: {}", path.display(), e.detail)))
    }

    /// Parses credential cache bytes (format 0x0504; 0x0503 is read too, it differs only by
    /// having no header).
    pub fn parse(bytes: &[u8]) -> Result<Ccache, AuthError> {
        if bytes.len() > MAX_CCACHE_BYTES {
            return Err(malformed(&format!("larger than {MAX_CCACHE_BYTES} bytes")));
        }
        let mut r = Reader(BeReader::new(bytes, malformed));
        let version = r.u16()?;
        let mut time_offset = None;
        match version {
            0x0504 => {
                let len = usize::from(r.u16()?);
                let mut h = BeReader::new(r.take(len)?, malformed);
                while !h.is_empty() {
                    let tag = h.u16()?;
                    let n = usize::from(h.u16()?);
                    let data = h.take(n)?;
                    if tag == 1 && data.len() == 8 {
                        let s = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                        let us = i32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                        time_offset = Some((s, us));
                    }
                }
            }
            0x0503 => {}
            0x0501 | 0x0502 => {
                return Err(malformed(&format!(
                    "version {version:#06x} is not read (an old native-byte-order cache, or a \
                     keytab, which starts the same way): kinit writes 0x0504"
                )));
            }
            v => return Err(malformed(&format!("unknown version {v:#06x}"))),
        }
        let principal = r.principal()?;
        let mut credentials = Vec::new();
        while !r.is_empty() {
            if credentials.len() == MAX_CCACHE_CREDENTIALS {
                return Err(malformed(&format!(
                    "more than {MAX_CCACHE_CREDENTIALS} credentials"
                )));
            }
            let c = r.credential()?;
            if c.server.realm != CONF_REALM {
                credentials.push(c);
            }
        }
        Ok(Ccache {
            principal,
            time_offset,
            credentials,
        })
    }

    /// The tickets, in file order (configuration entries left out).
    pub fn credentials(&self) -> &[CcacheCredential] {
        &self.credentials
    }

    /// The TGT of `realm` (`krbtgt/REALM@REALM`; the default principal's realm when `None`) for
    /// the default principal, the newest (latest endtime) when there are several. A clear error
    /// when there is none, or when the newest has expired at `now` (seconds since 1970).
    pub fn tgt(&self, realm: Option<&str>, now: u64) -> Result<&CcacheCredential, AuthError> {
        let realm = realm.unwrap_or(&self.principal.realm);
        let tgt = self
            .credentials
            .iter()
            .filter(|c| c.is_tgt_of(realm))
            .filter(|c| {
                c.client.components == self.principal.components
                    && c.client.realm.eq_ignore_ascii_case(&self.principal.realm)
            })
            .max_by_key(|c| c.endtime)
            .ok_or_else(|| {
                AuthError::new(
                    AuthFailure::LogonFailure,
                    format!(
                        "the credential cache has no TGT (krbtgt/{realm}@{realm}) for {}",
                        self.principal
                    ),
                )
            })?;
        if u64::from(tgt.endtime) <= now {
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                format!(
                    "the TGT of {} in the credential cache has expired (endtime {}, now {now}): \
                     run kinit again",
                    self.principal, tgt.endtime
                ),
            ));
        }
        Ok(tgt)
    }
}

/// The file a `KRB5CCNAME` value or path names: `FILE:PATH` or a plain path.
fn resolve(path: &Path) -> Result<std::path::PathBuf, AuthError> {
    let Some(s) = path.to_str() else {
        return Ok(path.to_owned());
    };
    if let Some(rest) = s.strip_prefix("FILE:") {
        return Ok(rest.into());
    }
    if let Some((kind, _)) = s.split_once(':')
        && !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_uppercase())
    {
        return Err(AuthError::new(
            AuthFailure::Unsupported,
            format!(
                "credential cache type {kind}: is not supported: only FILE: caches are read \
                 (kinit -c FILE:PATH)"
            ),
        ));
    }
    Ok(path.to_owned())
}

fn malformed(why: &str) -> AuthError {
    AuthError::new(
        AuthFailure::LogonFailure,
        format!("malformed credential cache: {why}"),
    )
}

/// The shared big-endian reader, with the credential cache's own records.
struct Reader<'a>(BeReader<'a>);

impl<'a> std::ops::Deref for Reader<'a> {
    type Target = BeReader<'a>;
    fn deref(&self) -> &BeReader<'a> {
        &self.0
    }
}

impl std::ops::DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<'a> Reader<'a> {
    /// A 4-byte length and that many bytes (never more than what is left).
    fn data(&mut self) -> Result<&'a [u8], AuthError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, AuthError> {
        let n = self.u32()? as usize;
        self.utf8(n)
    }

    fn count(&mut self, what: &str) -> Result<usize, AuthError> {
        let n = self.u32()? as usize;
        if n > MAX_CCACHE_COUNT {
            return Err(malformed(&format!(
                "{n} {what} (at most {MAX_CCACHE_COUNT})"
            )));
        }
        Ok(n)
    }

    fn principal(&mut self) -> Result<CcachePrincipal, AuthError> {
        let name_type = self.u32()?;
        let count = self.count("principal components")?;
        let realm = self.string()?;
        let mut components = Vec::with_capacity(count);
        for _ in 0..count {
            components.push(self.string()?);
        }
        Ok(CcachePrincipal {
            name_type,
            realm,
            components,
        })
    }

    fn credential(&mut self) -> Result<CcacheCredential, AuthError> {
        let client = self.principal()?;
        let server = self.principal()?;
        let enctype = i32::from(self.u16()? as i16);
        let key = self.data()?.to_vec();
        let authtime = self.u32()?;
        let starttime = self.u32()?;
        let endtime = self.u32()?;
        let _renew_till = self.u32()?;
        let _is_skey = self.u8()?;
        let flags = self.u32()?;
        for what in ["addresses", "authorization-data entries"] {
            for _ in 0..self.count(what)? {
                let _type = self.u16()?;
                let _data = self.data()?;
            }
        }
        let ticket = self.data()?.to_vec();
        let _second_ticket = self.data()?;
        Ok(CcacheCredential {
            client,
            server,
            enctype,
            key,
            authtime,
            starttime,
            endtime,
            flags,
            ticket,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A cache MIT `kinit` (krb5 1.20, Debian) wrote for alice@AD.MSRPC.TEST against the Samba
    /// AD DC of `scripts/peers/addc.sh` (`kinit -c FILE:... alice`): an AES256 TGT with a PAC,
    /// and MIT's `fast_avail` configuration entry. Its session key is long dead.
    const KINIT: &[u8] = include_bytes!("../../tests/data/alice.ccache");

    #[test]
    fn a_cache_from_mit_kinit_gives_the_tgt_its_key_and_enctype() {
        let cc = Ccache::parse(KINIT).unwrap();
        assert_eq!(cc.principal.to_string(), "alice@AD.MSRPC.TEST");
        let tgt = cc.tgt(None, 0).unwrap();
        assert_eq!(tgt.server.to_string(), "krbtgt/AD.MSRPC.TEST@AD.MSRPC.TEST");
        assert_eq!(tgt.enctype, 18);
        assert_eq!(tgt.key().len(), 32);
        assert!(tgt.endtime > tgt.authtime);
        // The ticket is DER: APPLICATION 1.
        assert_eq!(tgt.ticket.first(), Some(&0x61));
        // Configuration entries are not tickets.
        assert!(
            cc.credentials()
                .iter()
                .all(|c| c.server.realm != CONF_REALM)
        );
        assert!(!format!("{tgt:?}").contains(&format!("{:?}", tgt.key())));
        // Expired, another realm: clear errors.
        let e = cc.tgt(None, u64::from(tgt.endtime)).unwrap_err();
        assert!(e.detail.contains("expired"), "{}", e.detail);
        let e = cc.tgt(Some("OTHER.TEST"), 0).unwrap_err();
        assert!(
            e.detail.contains("no TGT (krbtgt/OTHER.TEST"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_never_a_panic() {
        let mut whole = 0;
        for n in 0..KINIT.len() {
            // A cut exactly between two entries is a valid, shorter cache, but never one that
            // still has the TGT (the last entry).
            if let Ok(cc) = Ccache::parse(&KINIT[..n]) {
                whole += 1;
                assert!(cc.tgt(None, 0).is_err(), "cut at {n}");
            }
        }
        assert!(whole <= 3, "{whole} cuts parsed");
        // Flip each byte in turn: parse or fail, never panic, never allocate past the input.
        let mut b = KINIT.to_vec();
        for i in 0..b.len() {
            b[i] ^= 0xff;
            let _ = Ccache::parse(&b);
            b[i] ^= 0xff;
        }
        let e = Ccache::parse(&[5, 2, 0, 0]).unwrap_err();
        assert!(e.detail.contains("0x0502"), "{}", e.detail);
        let e = Ccache::parse(&[7, 7]).unwrap_err();
        assert!(e.detail.contains("unknown version"), "{}", e.detail);
        // A principal claiming a huge component count.
        let e = Ccache::parse(&[5, 4, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(e.detail.contains("principal components"), "{}", e.detail);
        // A length larger than the file.
        let e = Ccache::parse(&[5, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0, 0, 0]).unwrap_err();
        assert!(e.detail.contains("truncated"), "{}", e.detail);
        assert!(Ccache::parse(&vec![0; MAX_CCACHE_BYTES + 1]).is_err());
    }

    #[test]
    fn krb5ccname_values_resolve_to_files_or_clear_errors() {
        assert_eq!(
            resolve(Path::new("FILE:/tmp/krb5cc_0")).unwrap(),
            Path::new("/tmp/krb5cc_0")
        );
        assert_eq!(
            resolve(Path::new("/tmp/krb5cc_0")).unwrap(),
            Path::new("/tmp/krb5cc_0")
        );
        let e = resolve(Path::new("KEYRING:persistent:1000")).unwrap_err();
        assert!(e.detail.contains("KEYRING"), "{}", e.detail);
        let e = Ccache::from_file("/nonexistent/krb5cc").unwrap_err();
        assert!(e.detail.contains("/nonexistent/krb5cc"), "{}", e.detail);
    }
}
