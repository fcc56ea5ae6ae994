//! Kerberos per-message tokens (RFC 4121 4.2.6) on top of the `sspi` context: MIC tokens for the
//! packet and integrity levels, which `sspi` 0.23 cannot make (its `make_signature` is
//! unsupported and its wrap always seals), and the sequence-number check on every token that
//! arrives, which `sspi`'s `decrypt_message` does not do.
//!
//! No cryptography is written here: the checksum is picky-krb's `hmac-sha1-96-aes128/256`
//! (RFC 3962) under the context's session key (`sspi`'s `query_context_session_key`: the
//! acceptor's subkey, as DCE-style Kerberos always has one), with the RFC 4121 key usages
//! (initiator sign 25, acceptor sign 23). This module frames the 16-byte token header and compares.

use picky_krb::constants::key_usages::{
    ACCEPTOR_SEAL, ACCEPTOR_SIGN, INITIATOR_SEAL, INITIATOR_SIGN,
};
use picky_krb::crypto::{ChecksumSuite, CipherSuite};

use msrpc_proto::auth::{AuthError, AuthFailure};

/// A MIC token: the 16-byte header and a 12-byte `hmac-sha1-96` checksum.
pub(crate) const MIC_LEN: usize = 28;
/// The filler (EC) of the sealed wrap tokens msrpc's own initiator makes (`krb_initiator.rs`):
/// 16 bytes, as Windows' and `sspi`'s DCE-style initiators.
pub(crate) const WRAP_EC: u16 = 16;
/// The right rotation count (RRC) of DCE-style sealed wrap tokens (MS-KILE 3.4.5.4.1): the
/// encrypted header copy and the checksum, 16 + 12 bytes, rotated in front (with EC more).
const WRAP_RRC: u16 = 28;
/// A sealed wrap token as the signature of a fragment, for filler `ec`: the header, the
/// confounder, the filler, the encrypted header copy and the 12-byte checksum.
pub(crate) const fn wrap_len(ec: u16) -> usize {
    HEADER_LEN + 16 + ec as usize + HEADER_LEN + 12
}
/// The token header (RFC 4121 4.2.6.1 and 4.2.6.2).
const HEADER_LEN: usize = 16;
const TOK_MIC: [u8; 2] = [0x04, 0x04];
const TOK_WRAP: [u8; 2] = [0x05, 0x04];
/// Flags (RFC 4121 4.2.2).
const SENT_BY_ACCEPTOR: u8 = 0x01;
const SEALED: u8 = 0x02;
const ACCEPTOR_SUBKEY: u8 = 0x04;

/// One side's per-message state once the context is established. `Debug` hides the key.
pub(crate) struct PerMessage {
    key: Vec<u8>,
    suite: ChecksumSuite,
    cipher: CipherSuite,
    initiator: bool,
    /// The sequence number the peer's next token must carry; learnt from its first token.
    recv_next: Option<u64>,
}

impl std::fmt::Debug for PerMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerMessage")
            .field("suite", &self.suite)
            .field("initiator", &self.initiator)
            .field("recv_next", &self.recv_next)
            .finish_non_exhaustive()
    }
}

impl PerMessage {
    /// The state for the initiator (client) or acceptor (server) with the context's session
    /// key: 32 bytes is AES256, 16 bytes AES128 (`sspi` negotiates no other enctype).
    pub(crate) fn new(key: Vec<u8>, initiator: bool) -> Result<PerMessage, AuthError> {
        let (suite, cipher) = match key.len() {
            32 => (
                ChecksumSuite::HmacSha196Aes256,
                CipherSuite::Aes256CtsHmacSha196,
            ),
            16 => (
                ChecksumSuite::HmacSha196Aes128,
                CipherSuite::Aes128CtsHmacSha196,
            ),
            n => {
                return Err(AuthError::new(
                    AuthFailure::Unsupported,
                    format!("Kerberos: a {n}-byte session key is not AES128 or AES256"),
                ));
            }
        };
        Ok(PerMessage {
            key,
            suite,
            cipher,
            initiator,
            recv_next: None,
        })
    }

    /// Writes into `out` (exactly [`MIC_LEN`] bytes) the MIC token over `data` with sequence
    /// number `seq`.
    pub(crate) fn sign(&self, seq: u64, data: &[u8], out: &mut [u8]) -> Result<(), AuthError> {
        if out.len() != MIC_LEN {
            return Err(AuthError::new(
                AuthFailure::Package,
                format!("a Kerberos MIC is {MIC_LEN} bytes, not {}", out.len()),
            ));
        }
        let flags = ACCEPTOR_SUBKEY | if self.initiator { 0 } else { SENT_BY_ACCEPTOR };
        let header = mic_header(flags, seq);
        let usage = if self.initiator {
            INITIATOR_SIGN
        } else {
            ACCEPTOR_SIGN
        };
        let sum = self.checksum(usage, data, &header)?;
        out[..HEADER_LEN].copy_from_slice(&header);
        out[HEADER_LEN..].copy_from_slice(&sum);
        Ok(())
    }

    /// Checks the peer's MIC `token` over `data`: its header, direction, sequence number and
    /// checksum. The expected sequence number moves on only when everything verifies.
    pub(crate) fn verify(&mut self, data: &[u8], token: &[u8]) -> Result<(), AuthError> {
        if token.len() != MIC_LEN || token[..2] != TOK_MIC || token[3..8] != [0xff; 5] {
            return Err(tampered("not a Kerberos MIC token"));
        }
        self.check_direction(token[2])?;
        if token[2] & SEALED != 0 {
            return Err(tampered("a MIC token with the sealed flag"));
        }
        let seq = self.expect_seq(&token[8..16])?;
        let usage = if self.initiator {
            ACCEPTOR_SIGN
        } else {
            INITIATOR_SIGN
        };
        let header: [u8; HEADER_LEN] = token[..HEADER_LEN]
            .try_into()
            .map_err(|_| tampered("short MIC token"))?;
        let sum = self.checksum(usage, data, &header)?;
        if !same(&sum, &token[HEADER_LEN..]) {
            return Err(tampered("the MIC does not verify"));
        }
        self.recv_next = Some(seq.wrapping_add(1));
        Ok(())
    }

    /// Checks a sealed wrap token's header (direction, the sealed flag, the sequence number)
    /// before the package decrypts it; returns the sequence number to [`commit`](Self::commit)
    /// once it has.
    pub(crate) fn check_wrap(&self, token: &[u8]) -> Result<u64, AuthError> {
        if token.len() < HEADER_LEN || token[..2] != TOK_WRAP || token[3] != 0xff {
            return Err(tampered("not a Kerberos wrap token"));
        }
        self.check_direction(token[2])?;
        if token[2] & SEALED == 0 {
            return Err(tampered("an unsealed wrap token at the privacy level"));
        }
        self.expect_seq(&token[8..16])
    }

    /// The wrap token with sequence number `seq` verified.
    pub(crate) fn commit(&mut self, seq: u64) {
        self.recv_next = Some(seq.wrapping_add(1));
    }

    /// Seals `data` in place and writes the wrap token (exactly [`wrap_len`]`(WRAP_EC)` bytes)
    /// into `out` (RFC 4121 4.2.4 with the DCE rotation of MS-KILE 3.4.5.4.1): picky-krb's
    /// cipher encrypts `data | filler | header` under the seal key usage, and its checksum
    /// covers the confounder, `before`, `data`, `after`, the filler and the header, so `before`
    /// and `after` (the PDU header and the security trailer, with header signing) are
    /// protected but sent in the clear.
    pub(crate) fn seal(
        &self,
        seq: u64,
        before: &[u8],
        data: &mut [u8],
        after: &[u8],
        out: &mut [u8],
    ) -> Result<(), AuthError> {
        let ec = WRAP_EC;
        if out.len() != wrap_len(ec) {
            return Err(AuthError::new(
                AuthFailure::Package,
                format!(
                    "a Kerberos wrap token is {} bytes, not {}",
                    wrap_len(ec),
                    out.len()
                ),
            ));
        }
        let flags = SEALED | ACCEPTOR_SUBKEY | if self.initiator { 0 } else { SENT_BY_ACCEPTOR };
        let usage = if self.initiator {
            INITIATOR_SEAL
        } else {
            ACCEPTOR_SEAL
        };
        // The header copy that is encrypted has RRC 0 (RFC 4121 4.2.5).
        let inner = wrap_header(flags, ec, 0, seq);
        let filler = vec![0u8; usize::from(ec)];
        let mut payload = Vec::with_capacity(data.len() + filler.len() + HEADER_LEN);
        payload.extend_from_slice(data);
        payload.extend_from_slice(&filler);
        payload.extend_from_slice(&inner);
        let cipher = self.cipher.cipher();
        let enc = cipher
            .encrypt_no_checksum(&self.key, usage, &payload)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos seal: {e}")))?;
        let mut signed = enc.confounder;
        signed.extend_from_slice(before);
        signed.extend_from_slice(data);
        signed.extend_from_slice(after);
        signed.extend_from_slice(&filler);
        signed.extend_from_slice(&inner);
        let sum = cipher
            .encryption_checksum(&self.key, usage, &signed)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos seal: {e}")))?;
        let mut body = enc.encrypted;
        body.extend_from_slice(&sum);
        if body.len() != out.len() - HEADER_LEN + data.len() {
            return Err(AuthError::new(
                AuthFailure::Package,
                format!("Kerberos seal: {} bytes of ciphertext", body.len()),
            ));
        }
        body.rotate_right(usize::from(WRAP_RRC + ec));
        let (token, sealed) = body.split_at(out.len() - HEADER_LEN);
        out[..HEADER_LEN].copy_from_slice(&wrap_header(flags, ec, WRAP_RRC, seq));
        out[HEADER_LEN..].copy_from_slice(token);
        data.copy_from_slice(sealed);
        Ok(())
    }

    /// Checks and unseals a peer's sealed fragment: `token` is the wrap token from the
    /// signature, `data` the sealed stub (decrypted in place only once everything verifies),
    /// `before` and `after` what the checksum also covers (see [`seal`](Self::seal)). The
    /// direction, the sealed flag, the sequence number, the encrypted header copy and the
    /// checksum must all hold.
    pub(crate) fn unseal(
        &mut self,
        before: &[u8],
        data: &mut [u8],
        after: &[u8],
        token: &[u8],
    ) -> Result<(), AuthError> {
        let seq = self.check_wrap(token)?;
        let ec = u16::from_be_bytes([token[4], token[5]]);
        let rrc = u16::from_be_bytes([token[6], token[7]]);
        if token.len() != wrap_len(ec) {
            return Err(tampered("a wrap token of the wrong length for its EC"));
        }
        let usage = if self.initiator {
            ACCEPTOR_SEAL
        } else {
            INITIATOR_SEAL
        };
        let mut body = Vec::with_capacity(token.len() - HEADER_LEN + data.len());
        body.extend_from_slice(&token[HEADER_LEN..]);
        body.extend_from_slice(data);
        let n = body.len();
        body.rotate_left((usize::from(rrc) + usize::from(ec)) % n);
        let cipher = self.cipher.cipher();
        let dec = cipher
            .decrypt_no_checksum(&self.key, usage, &body)
            .map_err(|_| tampered("the wrap token does not decrypt"))?;
        let plain = dec.plaintext;
        if plain.len() != data.len() + usize::from(ec) + HEADER_LEN {
            return Err(tampered(
                "a wrap token whose plaintext has the wrong length",
            ));
        }
        let (stub, rest) = plain.split_at(data.len());
        let (filler, inner) = rest.split_at(usize::from(ec));
        let mut expect = [0u8; HEADER_LEN];
        expect.copy_from_slice(&token[..HEADER_LEN]);
        expect[6] = 0;
        expect[7] = 0;
        if inner != expect {
            return Err(tampered("the wrap token's encrypted header does not match"));
        }
        let mut signed = dec.confounder;
        signed.extend_from_slice(before);
        signed.extend_from_slice(stub);
        signed.extend_from_slice(after);
        signed.extend_from_slice(filler);
        signed.extend_from_slice(inner);
        let sum = cipher
            .encryption_checksum(&self.key, usage, &signed)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos unseal: {e}")))?;
        if !same(&sum, &dec.checksum) {
            return Err(tampered("the wrap token does not verify"));
        }
        data.copy_from_slice(stub);
        self.commit(seq);
        Ok(())
    }

    fn check_direction(&self, flags: u8) -> Result<(), AuthError> {
        let from_acceptor = flags & SENT_BY_ACCEPTOR != 0;
        if from_acceptor != self.initiator {
            return Err(tampered(
                "a token sent in the other direction (SentByAcceptor flag)",
            ));
        }
        Ok(())
    }

    fn expect_seq(&self, raw: &[u8]) -> Result<u64, AuthError> {
        let seq = u64::from_be_bytes(raw.try_into().map_err(|_| tampered("short token"))?);
        match self.recv_next {
            Some(next) if next != seq => Err(tampered(&format!(
                "sequence number {seq} where {next} was next (replayed, reordered or dropped)"
            ))),
            _ => Ok(seq),
        }
    }

    fn checksum(
        &self,
        usage: i32,
        data: &[u8],
        header: &[u8; HEADER_LEN],
    ) -> Result<Vec<u8>, AuthError> {
        // RFC 4121 4.2.4: the checksum covers the message, then the token header.
        let mut input = Vec::with_capacity(data.len() + HEADER_LEN);
        input.extend_from_slice(data);
        input.extend_from_slice(header);
        let sum = self
            .suite
            .hasher()
            .checksum(&self.key, usage, &input)
            .map_err(|e| AuthError::new(AuthFailure::Package, format!("Kerberos MIC: {e}")))?;
        if sum.len() != MIC_LEN - HEADER_LEN {
            return Err(AuthError::new(
                AuthFailure::Package,
                format!("Kerberos MIC: a {}-byte checksum", sum.len()),
            ));
        }
        Ok(sum)
    }
}

fn mic_header(flags: u8, seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0xffu8; HEADER_LEN];
    h[..2].copy_from_slice(&TOK_MIC);
    h[2] = flags;
    h[8..].copy_from_slice(&seq.to_be_bytes());
    h
}

fn wrap_header(flags: u8, ec: u16, rrc: u16, seq: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..2].copy_from_slice(&TOK_WRAP);
    h[2] = flags;
    h[3] = 0xff;
    h[4..6].copy_from_slice(&ec.to_be_bytes());
    h[6..8].copy_from_slice(&rrc.to_be_bytes());
    h[8..].copy_from_slice(&seq.to_be_bytes());
    h
}

fn tampered(why: &str) -> AuthError {
    AuthError::new(AuthFailure::Tampered, format!("Kerberos: {why}"))
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pair() -> (PerMessage, PerMessage) {
        let key = vec![0x5a; 32];
        (
            PerMessage::new(key.clone(), true).unwrap(),
            PerMessage::new(key, false).unwrap(),
        )
    }

    #[test]
    fn mics_verify_in_order_and_refuse_tampering_replay_and_reflection() {
        let (client, mut server) = pair();
        let mut t1 = [0u8; MIC_LEN];
        let mut t2 = [0u8; MIC_LEN];
        client.sign(7, b"first pdu", &mut t1).unwrap();
        client.sign(8, b"second pdu", &mut t2).unwrap();
        // Header: TOK_ID 04 04, AcceptorSubkey, five FF, then the sequence number.
        assert_eq!(&t1[..8], &[4, 4, 4, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&t1[8..16], &7u64.to_be_bytes());
        // A changed message or checksum fails, and does not move the sequence on.
        assert!(server.verify(b"first pdX", &t1).is_err());
        let mut bad = t1;
        bad[20] ^= 1;
        assert!(server.verify(b"first pdu", &bad).is_err());
        server.verify(b"first pdu", &t1).unwrap();
        // Replayed or skipped: refused; the next one in order verifies.
        assert!(server.verify(b"first pdu", &t1).is_err());
        let mut t3 = [0u8; MIC_LEN];
        client.sign(9, b"third", &mut t3).unwrap();
        assert!(server.verify(b"third", &t3).is_err());
        server.verify(b"second pdu", &t2).unwrap();
        // The server's own token reflected back to it: wrong direction.
        let mut own = [0u8; MIC_LEN];
        server.sign(1, b"reply", &mut own).unwrap();
        assert_eq!(own[2], ACCEPTOR_SUBKEY | SENT_BY_ACCEPTOR);
        assert!(server.verify(b"reply", &own).is_err());
        let (mut client, _) = pair();
        client.verify(b"reply", &own).unwrap();
    }

    #[test]
    fn sealed_fragments_round_trip_and_refuse_tampering_and_replay() {
        let (client, mut server) = pair();
        let (head, tail) = (b"pdu header".to_vec(), b"trailer!".to_vec());
        let plain = b"a sealed stub of some length".to_vec();
        let mut data = plain.clone();
        let mut token = vec![0u8; wrap_len(WRAP_EC)];
        assert_eq!(token.len(), 76);
        client.seal(5, &head, &mut data, &tail, &mut token).unwrap();
        assert_ne!(data, plain);
        assert_eq!(
            &token[..8],
            &[5, 4, SEALED | ACCEPTOR_SUBKEY, 0xff, 0, 16, 0, 28]
        );
        // The header signed but in the clear: changing it fails, and leaves the data sealed.
        let mut d = data.clone();
        assert!(server.unseal(b"pdu heaDer", &mut d, &tail, &token).is_err());
        assert_eq!(d, data);
        let mut t = token.clone();
        t[40] ^= 1;
        assert!(server.unseal(&head, &mut d, &tail, &t).is_err());
        server.unseal(&head, &mut d, &tail, &token).unwrap();
        assert_eq!(d, plain);
        // Replayed: refused.
        let mut d = data.clone();
        assert!(server.unseal(&head, &mut d, &tail, &token).is_err());
        // The acceptor's answer, stub only (no header signing).
        let mut reply = b"response".to_vec();
        let mut token = vec![0u8; wrap_len(WRAP_EC)];
        server.seal(9, &[], &mut reply, &[], &mut token).unwrap();
        let (mut client, _) = pair();
        client.unseal(&[], &mut reply, &[], &token).unwrap();
        assert_eq!(reply, b"response");
    }

    #[test]
    fn wrap_headers_are_checked_and_only_aes_keys_are_taken() {
        let (_, server) = pair();
        let mut wrap = [0u8; 60];
        wrap[..8].copy_from_slice(&[5, 4, SEALED | ACCEPTOR_SUBKEY, 0xff, 0, 0, 0, 0x1c]);
        wrap[8..16].copy_from_slice(&3u64.to_be_bytes());
        assert_eq!(server.check_wrap(&wrap).unwrap(), 3);
        wrap[2] = ACCEPTOR_SUBKEY;
        assert!(server.check_wrap(&wrap).is_err(), "unsealed at privacy");
        wrap[2] = SEALED | ACCEPTOR_SUBKEY | SENT_BY_ACCEPTOR;
        assert!(server.check_wrap(&wrap).is_err(), "reflected");
        assert!(server.check_wrap(&wrap[..10]).is_err());
        assert!(PerMessage::new(vec![1; 16], true).is_ok());
        assert_eq!(
            PerMessage::new(vec![1; 24], true).unwrap_err().kind,
            AuthFailure::Unsupported
        );
    }
}
