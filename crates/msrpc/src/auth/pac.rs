//! The client's groups from the PAC (MS-PAC) of the Kerberos ticket a server accepted: the ticket
//! is decrypted with the service key (picky-krb's cipher, key usage 2), its authorization data
//! searched for AD-IF-RELEVANT / AD-WIN2K-PAC, and the PAC's KERB_VALIDATION_INFO (MS-PAC 2.5,
//! NDR type serialization version 1) read for the account's domain, its primary group, its
//! groups and its extra SIDs. DER and NDR reading only, every length checked against the data;
//! no cryptography is written here.
//!
//! `sspi` 0.23's acceptor decrypts the same ticket but does not expose it, so this runs only after
//! `sspi` has accepted the AP-REQ (the ticket is then known to be genuine and current).

use picky_krb::crypto::CipherSuite;

/// Key usage of a ticket's encrypted part (RFC 4120 7.5.1).
const KEY_USAGE_TICKET: i32 = 2;
/// AD-IF-RELEVANT and AD-WIN2K-PAC (RFC 4120 7.5.4, MS-PAC 2.4).
const AD_IF_RELEVANT: u64 = 1;
const AD_WIN2K_PAC: u64 = 128;
/// PAC buffer type of KERB_VALIDATION_INFO (MS-PAC 2.4).
const PAC_LOGON_INFO: u32 = 1;
/// Nested AD-IF-RELEVANT levels followed.
const MAX_AD_DEPTH: usize = 4;

/// The SIDs of the client's groups (primary group first), from the AP-REQ `token` (raw or in its
/// GSS-API framing) whose ticket one of `keys` decrypts. `None` when there is no readable PAC.
pub(crate) fn groups(token: &[u8], keys: &[&[u8]]) -> Option<Vec<String>> {
    let ap_req = strip_gss(token)?;
    let (etype, cipher) = ticket_enc_part(ap_req)?;
    let suite = CipherSuite::try_from(usize::try_from(etype).ok()?).ok()?;
    let plain = keys
        .iter()
        .find_map(|k| suite.cipher().decrypt(k, KEY_USAGE_TICKET, cipher).ok())?;
    let pac = find_pac(authorization_data(&plain)?, 0)?;
    let info = pac_buffer(pac, PAC_LOGON_INFO)?;
    validation_groups(info)
}

/// One DER element at the start of `b`: (tag, contents, rest).
fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, b) = b.split_first()?;
    let (len, b) = if first < 0x80 {
        (usize::from(first), b)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n]
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (len, &b[n..])
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

/// The contents of the element tagged `tag` among the elements of `seq`.
fn field(mut seq: &[u8], tag: u8) -> Option<&[u8]> {
    while !seq.is_empty() {
        let (t, value, rest) = element(seq)?;
        if t == tag {
            return Some(value);
        }
        seq = rest;
    }
    None
}

/// The contents of a single element of type `tag`.
fn expect(b: &[u8], tag: u8) -> Option<&[u8]> {
    match element(b)? {
        (t, value, _) if t == tag => Some(value),
        _ => None,
    }
}

/// A DER INTEGER (up to 8 bytes, non-negative).
fn integer(b: &[u8]) -> Option<u64> {
    let v = expect(b, 0x02)?;
    if v.is_empty() || v.len() > 9 || v[0] & 0x80 != 0 {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
}

/// The AP-REQ inside the GSS-API framing (RFC 2743 3.1: `60 LEN`, the mechanism OID, then the
/// 2-byte token id), or the token itself when it is a bare AP-REQ.
fn strip_gss(token: &[u8]) -> Option<&[u8]> {
    if token.first() != Some(&0x60) {
        return Some(token);
    }
    let inner = expect(token, 0x60)?;
    let (0x06, _, rest) = element(inner)? else {
        return None;
    };
    rest.get(2..)
}

/// The ticket's (etype, cipher) from an AP-REQ (RFC 4120 5.5.1, 5.3).
fn ticket_enc_part(ap_req: &[u8]) -> Option<(u64, &[u8])> {
    let seq = expect(expect(ap_req, 0x6e)?, 0x30)?;
    let ticket = expect(expect(field(seq, 0xa3)?, 0x61)?, 0x30)?;
    let enc = expect(field(ticket, 0xa3)?, 0x30)?;
    let etype = integer(field(enc, 0xa0)?)?;
    let cipher = expect(field(enc, 0xa2)?, 0x04)?;
    Some((etype, cipher))
}

/// The authorization-data of a decrypted EncTicketPart (RFC 4120 5.3, field 10).
fn authorization_data(enc_ticket_part: &[u8]) -> Option<&[u8]> {
    let seq = expect(expect(enc_ticket_part, 0x63)?, 0x30)?;
    expect(field(seq, 0xaa)?, 0x30)
}

/// The PAC in a SEQUENCE OF AuthorizationData entries, looking inside AD-IF-RELEVANT.
fn find_pac(mut entries: &[u8], depth: usize) -> Option<&[u8]> {
    if depth > MAX_AD_DEPTH {
        return None;
    }
    while !entries.is_empty() {
        let (tag, entry, rest) = element(entries)?;
        entries = rest;
        if tag != 0x30 {
            return None;
        }
        let ad_type = integer(field(entry, 0xa0)?)?;
        let data = expect(field(entry, 0xa1)?, 0x04)?;
        match ad_type {
            AD_WIN2K_PAC => return Some(data),
            AD_IF_RELEVANT => {
                if let Some(pac) = find_pac(expect(data, 0x30)?, depth + 1) {
                    return Some(pac);
                }
            }
            _ => {}
        }
    }
    None
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// The buffer of type `kind` in a PACTYPE (MS-PAC 2.3, 2.4).
fn pac_buffer(pac: &[u8], kind: u32) -> Option<&[u8]> {
    let count = u32_at(pac, 0)? as usize;
    for i in 0..count.min(pac.len() / 16) {
        let at = 8 + i * 16;
        if u32_at(pac, at)? == kind {
            let size = u32_at(pac, at + 4)? as usize;
            let offset = u32_at(pac, at + 8)? as usize;
            if u32_at(pac, at + 12)? != 0 {
                return None;
            }
            return pac.get(offset..offset.checked_add(size)?);
        }
    }
    None
}

/// A little-endian NDR reader over a type-serialized buffer (alignment from the data's start).
struct Ndr<'a> {
    b: &'a [u8],
    at: usize,
}

impl Ndr<'_> {
    fn align(&mut self, n: usize) {
        self.at = self.at.div_ceil(n) * n;
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self.at.checked_add(n)?;
        (self.at <= self.b.len()).then_some(())
    }
    fn u32(&mut self) -> Option<u32> {
        self.align(4);
        let v = u32_at(self.b, self.at)?;
        self.at += 4;
        Some(v)
    }
    /// A conformant varying UTF-16 string's body (after its non-null pointer).
    fn skip_string(&mut self) -> Option<()> {
        let _max = self.u32()?;
        let _offset = self.u32()?;
        let actual = self.u32()? as usize;
        self.skip(actual.checked_mul(2)?)
    }
    /// An RPC_SID (MS-DTYP 2.4.2.3) after its pointer: the conformance, then the SID.
    fn sid(&mut self) -> Option<Sid> {
        let _conformance = self.u32()?;
        let head = self.b.get(self.at..self.at.checked_add(8)?)?;
        let (revision, count) = (head[0], usize::from(head[1]));
        let authority = head[2..8]
            .iter()
            .fold(0u64, |acc, x| (acc << 8) | u64::from(*x));
        self.at += 8;
        let mut subs = Vec::with_capacity(count.min(15));
        for _ in 0..count {
            subs.push(self.u32()?);
        }
        Some(Sid {
            revision,
            authority,
            subs,
        })
    }
}

struct Sid {
    revision: u8,
    authority: u64,
    subs: Vec<u32>,
}

impl Sid {
    fn with_rid(&self, rid: u32) -> String {
        format!("{}-{rid}", self)
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "S-{}-{}", self.revision, self.authority)?;
        for s in &self.subs {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

/// The group SIDs in a KERB_VALIDATION_INFO (MS-PAC 2.5) serialized with the NDR type
/// serialization version 1 headers (MS-RPCE 2.2.6).
fn validation_groups(buf: &[u8]) -> Option<Vec<String>> {
    // Common header: version 1, little-endian (0x10), length 8; private header: 8 bytes.
    if buf.get(..3)? != [0x01, 0x10, 0x08] {
        return None;
    }
    let mut r = Ndr {
        b: buf.get(16..)?,
        at: 0,
    };
    if r.u32()? == 0 {
        return None; // a null top-level pointer
    }
    // Six FILETIMEs, then six RPC_UNICODE_STRINGs (length, maximum length, pointer).
    r.skip(48)?;
    let mut strings = [0u32; 8];
    for p in strings.iter_mut().take(6) {
        r.skip(4)?;
        *p = r.u32()?;
    }
    r.skip(4)?; // LogonCount, BadPasswordCount
    let _user_id = r.u32()?;
    let primary_group = r.u32()?;
    let group_count = r.u32()? as usize;
    let group_ids = r.u32()?;
    r.skip(4 + 16)?; // UserFlags, UserSessionKey
    for p in strings.iter_mut().skip(6) {
        r.skip(4)?;
        *p = r.u32()?;
    }
    let domain_id = r.u32()?;
    r.skip(8 + 4 + 4 + 8 + 8 + 4 + 4)?; // Reserved1 .. Reserved3
    let sid_count = r.u32()? as usize;
    let extra_sids = r.u32()?;
    let _resource_domain = r.u32()?;
    let _resource_count = r.u32()?;
    let _resource_ids = r.u32()?;
    // The pointees, in declaration order.
    for &p in &strings[..6] {
        if p != 0 {
            r.skip_string()?;
        }
    }
    let mut rids = Vec::new();
    if group_ids != 0 {
        let n = r.u32()? as usize;
        if n != group_count || n > r.b.len() / 8 {
            return None;
        }
        for _ in 0..n {
            rids.push(r.u32()?);
            let _attributes = r.u32()?;
        }
    }
    for &p in &strings[6..] {
        if p != 0 {
            r.skip_string()?;
        }
    }
    let domain = if domain_id != 0 { Some(r.sid()?) } else { None };
    let mut out = Vec::new();
    if let Some(d) = &domain {
        out.push(d.with_rid(primary_group));
        for rid in rids {
            let s = d.with_rid(rid);
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    if extra_sids != 0 {
        let n = r.u32()? as usize;
        if n != sid_count || n > r.b.len() / 8 {
            return None;
        }
        let mut present = Vec::with_capacity(n);
        for _ in 0..n {
            present.push(r.u32()? != 0);
            let _attributes = r.u32()?;
        }
        for p in present {
            if p {
                let s = r.sid()?.to_string();
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A KERB_VALIDATION_INFO with EffectiveName "al", two groups, a domain SID and one extra
    /// SID, as the DC serializes it.
    fn validation_info() -> Vec<u8> {
        let mut d = Vec::new();
        let u32s = |d: &mut Vec<u8>, vs: &[u32]| vs.iter().for_each(|v| d.extend(v.to_le_bytes()));
        u32s(&mut d, &[0x0002_0000]); // top-level referent
        d.extend([0u8; 48]);
        // EffectiveName present, five empty strings.
        d.extend([4, 0, 4, 0]);
        u32s(&mut d, &[0x0002_0004]);
        for _ in 0..5 {
            d.extend([0u8; 8]);
        }
        d.extend([0u8; 4]);
        u32s(&mut d, &[1103, 513, 2, 0x0002_0008, 0x20]);
        d.extend([0u8; 16]);
        d.extend([0u8; 16]); // LogonServer, LogonDomainName: empty
        u32s(&mut d, &[0x0002_000c]); // LogonDomainId
        d.extend([0u8; 8 + 4 + 4 + 8 + 8 + 4 + 4]);
        u32s(&mut d, &[1, 0x0002_0010, 0, 0, 0]);
        // EffectiveName "al".
        u32s(&mut d, &[2, 0, 2]);
        d.extend([b'a', 0, b'l', 0]);
        // GroupIds: 513 and 1104.
        u32s(&mut d, &[2, 513, 7, 1104, 7]);
        // LogonDomainId S-1-5-21-1-2-3.
        u32s(&mut d, &[4]);
        d.extend([1, 4, 0, 0, 0, 0, 0, 5]);
        u32s(&mut d, &[21, 1, 2, 3]);
        // ExtraSids: one, S-1-18-1.
        u32s(&mut d, &[1, 0x0002_0014, 7, 1]);
        d.extend([1, 1, 0, 0, 0, 0, 0, 18]);
        u32s(&mut d, &[1]);
        let mut out = vec![0x01, 0x10, 0x08, 0x00, 0xcc, 0xcc, 0xcc, 0xcc];
        out.extend((d.len() as u32).to_le_bytes());
        out.extend([0u8; 4]);
        out.extend(d);
        out
    }

    #[test]
    fn groups_come_from_the_validation_info() {
        let groups = validation_groups(&validation_info()).unwrap();
        assert_eq!(
            groups,
            ["S-1-5-21-1-2-3-513", "S-1-5-21-1-2-3-1104", "S-1-18-1"]
        );
    }

    #[test]
    fn truncated_or_malformed_pacs_give_none_not_a_panic() {
        let full = validation_info();
        for cut in 0..full.len() {
            let _ = validation_groups(&full[..cut]);
        }
        assert!(validation_groups(&full[..full.len() - 4]).is_none());
        let mut huge = full.clone();
        // GroupCount and the conformance claim a billion groups.
        let at = 16 + 4 + 48 + 48 + 4 + 8;
        huge[at..at + 4].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        assert!(validation_groups(&huge).is_none());
        assert!(groups(&[0x60, 0x05, 0x06, 0x01, 0x00, 0x01, 0x00], &[&[0u8; 32]]).is_none());
        assert!(groups(&[], &[]).is_none());
        assert!(pac_buffer(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 1).is_none());
    }
}
