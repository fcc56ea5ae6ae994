//! Security identifiers ([MS-DTYP] 2.4.2) and `RPC_UNICODE_STRING` as Rust types.

use std::fmt;
use std::str::FromStr;

use msrpc::codegen::ndr;

use crate::dtyp::{RPC_SID, RPC_SID_IDENTIFIER_AUTHORITY, RPC_UNICODE_STRING};

/// A SID: revision 1, a 48-bit identifier authority and up to 15 sub-authorities. Prints and
/// parses as `S-1-5-21-...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid {
    /// The identifier authority, big-endian as on the wire.
    pub authority: [u8; 6],
    /// The sub-authorities (the last of an account's SID is its RID).
    pub sub_authorities: Vec<u32>,
}

/// The most sub-authorities a SID has ([MS-DTYP] 2.4.2.2, `SID_MAX_SUB_AUTHORITIES`).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// A string that is not a SID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SID (S-1-AUTHORITY-SUB...): {0:?}")]
pub struct SidParseError(String);

impl Sid {
    /// This SID with `rid` appended (an account of a domain).
    pub fn with_rid(&self, rid: u32) -> Sid {
        let mut s = self.clone();
        s.sub_authorities.push(rid);
        s
    }

    /// The last sub-authority.
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities.last().copied()
    }

    fn authority_value(&self) -> u64 {
        self.authority
            .iter()
            .fold(0u64, |v, b| (v << 8) | u64::from(*b))
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.authority_value();
        if a >> 32 == 0 {
            write!(f, "S-1-{a}")?;
        } else {
            write!(f, "S-1-0x{a:012X}")?;
        }
        for s in &self.sub_authorities {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl FromStr for Sid {
    type Err = SidParseError;

    fn from_str(s: &str) -> Result<Sid, SidParseError> {
        let bad = || SidParseError(s.to_string());
        let mut parts = s.split('-');
        if !parts.next().is_some_and(|p| p.eq_ignore_ascii_case("S")) || parts.next() != Some("1") {
            return Err(bad());
        }
        let auth = parts.next().ok_or_else(bad)?;
        let a = match auth.strip_prefix("0x").or_else(|| auth.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16).map_err(|_| bad())?,
            None => auth.parse::<u64>().map_err(|_| bad())?,
        };
        if a >> 48 != 0 {
            return Err(bad());
        }
        let mut authority = [0u8; 6];
        for (i, b) in authority.iter_mut().enumerate() {
            *b = (a >> (8 * (5 - i))) as u8;
        }
        let sub_authorities = parts
            .map(|p| p.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<Vec<_>, _>>()?;
        if sub_authorities.len() > MAX_SUB_AUTHORITIES {
            return Err(bad());
        }
        Ok(Sid {
            authority,
            sub_authorities,
        })
    }
}

impl From<&RPC_SID> for Sid {
    fn from(s: &RPC_SID) -> Sid {
        Sid {
            authority: s.IdentifierAuthority.Value,
            sub_authorities: s.SubAuthority.0.clone(),
        }
    }
}

impl From<&Sid> for RPC_SID {
    fn from(s: &Sid) -> RPC_SID {
        RPC_SID {
            Revision: 1,
            SubAuthorityCount: s.sub_authorities.len().min(MAX_SUB_AUTHORITIES) as u8,
            IdentifierAuthority: RPC_SID_IDENTIFIER_AUTHORITY { Value: s.authority },
            SubAuthority: ndr::ConformantArray(
                s.sub_authorities
                    .iter()
                    .take(MAX_SUB_AUTHORITIES)
                    .copied()
                    .collect(),
            ),
        }
    }
}

/// An `RPC_UNICODE_STRING` ([MS-DTYP] 2.3.10) to send: `Length` and `MaximumLength` count
/// bytes, the buffer holds no NUL.
pub fn unicode_string(s: &str) -> RPC_UNICODE_STRING {
    let units: Vec<u16> = s.encode_utf16().collect();
    let bytes = (units.len() * 2).min(usize::from(u16::MAX) & !1) as u16;
    let units: Vec<u16> = units.into_iter().take(usize::from(bytes / 2)).collect();
    RPC_UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: ndr::Unique::new(ndr::ConformantVaryingArray::new(units)),
    }
}

/// The text of a received `RPC_UNICODE_STRING` (unpaired surrogates become U+FFFD; a null
/// buffer is the empty string).
pub fn string_of(u: &RPC_UNICODE_STRING) -> String {
    match u.Buffer.as_ref() {
        Some(b) => String::from_utf16_lossy(&b.items),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_text_round_trips_through_rpc_sid() {
        for text in [
            "S-1-5-21-1004336348-1177238915-682003330-512",
            "S-1-1-0",
            "S-1-5-32-544",
        ] {
            let sid: Sid = text.parse().expect("parses");
            assert_eq!(sid.to_string(), text);
            let wire = RPC_SID::from(&sid);
            assert_eq!(
                usize::from(wire.SubAuthorityCount),
                sid.sub_authorities.len()
            );
            assert_eq!(Sid::from(&wire), sid);
        }
        let s: Sid = "S-1-5-21-1-2-3".parse().expect("parses");
        assert_eq!(s.with_rid(500).to_string(), "S-1-5-21-1-2-3-500");
        assert_eq!(s.with_rid(500).rid(), Some(500));
        for bad in [
            "",
            "S-1",
            "S-2-5",
            "S-1-5-x",
            "X-1-5",
            "S-1-281474976710656",
        ] {
            assert!(bad.parse::<Sid>().is_err(), "{bad}");
        }
        let too_many = format!("S-1-5{}", "-1".repeat(16));
        assert!(too_many.parse::<Sid>().is_err());
    }

    #[test]
    fn unicode_strings_count_bytes() {
        let u = unicode_string("héllo");
        assert_eq!((u.Length, u.MaximumLength), (10, 10));
        assert_eq!(string_of(&u), "héllo");
    }
}
