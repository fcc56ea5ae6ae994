//! NTLM session security for an NTLM logon made inside SPNEGO (MS-NLMP 3.4, with extended
//! session security), composed from RustCrypto's `hmac`, `md-5` and `rc4` crates exactly as
//! MS-NLMP 3.4.4.2 and 3.4.5 state.
//!
//! Why not `sspi`'s own signing: SPNEGO's mechListMIC is an NTLM signature with the next
//! sequence number that must leave the RC4 handle as it was (MS-SPNG 3.2.5.1, 3.3.5.1), so the
//! first message after it uses sequence number 1 and the handle's initial state. `sspi` 0.23
//! can do that only through a crate-private API, and its public calls cannot advance the
//! sequence number without also advancing the RC4 handle. So an NTLM context under SPNEGO keeps
//! the keys here, derived from `sspi`'s exported session key.

use hmac::{Hmac, KeyInit as _, Mac};
use md5::{Digest, Md5};
use msrpc_proto::auth::{AuthError, AuthFailure};
use rc4::{Rc4, StreamCipher};

const CLIENT_SIGN: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// NTLMSSP_NEGOTIATE_KEY_EXCH: the checksum is sealed with the RC4 handle.
pub(super) const NEGOTIATE_KEY_EXCH: u32 = 0x4000_0000;
/// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY.
pub(super) const NEGOTIATE_ESS: u32 = 0x0008_0000;

/// The length of an NTLM signature (NTLMSSP_MESSAGE_SIGNATURE with ESS).
pub(super) const SIGNATURE_LEN: usize = 16;

fn md5_concat(a: &[u8], b: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(a);
    h.update(b);
    h.finalize().into()
}

/// One direction: its signing key, sealing key and handle, and its next sequence number.
struct Direction {
    sign_key: [u8; 16],
    seal_key: [u8; 16],
    handle: Rc4,
    seq: u32,
}

impl Direction {
    fn new(session_key: &[u8], sign: &[u8], seal: &[u8]) -> Result<Direction, AuthError> {
        let seal_key = md5_concat(session_key, seal);
        Ok(Direction {
            sign_key: md5_concat(session_key, sign),
            seal_key,
            handle: new_handle(&seal_key)?,
            seq: 0,
        })
    }

    /// HMAC_MD5(SigningKey, SeqNum || message parts), its first 8 bytes.
    fn checksum(&self, seq: u32, parts: &[&[u8]]) -> Result<[u8; 8], AuthError> {
        let mut mac = <Hmac<Md5>>::new_from_slice(&self.sign_key)
            .map_err(|_| AuthError::new(AuthFailure::Package, "NTLM: bad signing key"))?;
        mac.update(&seq.to_le_bytes());
        for p in parts {
            mac.update(p);
        }
        let digest = mac.finalize().into_bytes();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Ok(out)
    }
}

fn new_handle(key: &[u8; 16]) -> Result<Rc4, AuthError> {
    use rc4::KeyInit as _;
    Rc4::new_from_slice(key)
        .map_err(|_| AuthError::new(AuthFailure::Package, "NTLM: bad sealing key"))
}

fn signature(checksum: [u8; 8], seq: u32) -> [u8; SIGNATURE_LEN] {
    let mut sig = [0u8; SIGNATURE_LEN];
    sig[0] = 1;
    sig[4..12].copy_from_slice(&checksum);
    sig[12..].copy_from_slice(&seq.to_le_bytes());
    sig
}

/// The keys, handles and sequence numbers of an established NTLM session, server side.
pub(super) struct NtlmSession {
    send: Direction,
    recv: Direction,
    key_exch: bool,
}

impl NtlmSession {
    /// The server's session from the exported session key and the negotiated flags of the
    /// AUTHENTICATE message.
    pub(super) fn server(session_key: &[u8], flags: u32) -> Result<NtlmSession, AuthError> {
        if flags & NEGOTIATE_ESS == 0 {
            return Err(AuthError::new(
                AuthFailure::Unsupported,
                "NTLM without extended session security is not supported under SPNEGO",
            ));
        }
        Ok(NtlmSession {
            send: Direction::new(session_key, SERVER_SIGN, SERVER_SEAL)?,
            recv: Direction::new(session_key, CLIENT_SIGN, CLIENT_SEAL)?,
            key_exch: flags & NEGOTIATE_KEY_EXCH != 0,
        })
    }

    /// The client's side of the same session (tests of the acceptor).
    #[cfg(test)]
    pub(super) fn client(session_key: &[u8], flags: u32) -> NtlmSession {
        #[allow(clippy::unwrap_used)]
        NtlmSession {
            send: Direction::new(session_key, CLIENT_SIGN, CLIENT_SEAL).unwrap(),
            recv: Direction::new(session_key, SERVER_SIGN, SERVER_SEAL).unwrap(),
            key_exch: flags & NEGOTIATE_KEY_EXCH != 0,
        }
    }

    /// The server's mechListMIC over `data`: a signature with the next sequence number, made
    /// with a copy of the handle in its initial state, so that the handle is as it was (MS-SPNG
    /// 3.2.5.1). Call it before any message is signed.
    pub(super) fn make_mic(&mut self, data: &[u8]) -> Result<[u8; SIGNATURE_LEN], AuthError> {
        let seq = self.send.seq;
        let mut checksum = self.send.checksum(seq, &[data])?;
        if self.key_exch {
            new_handle(&self.send.seal_key)?.apply_keystream(&mut checksum);
        }
        self.send.seq = seq.wrapping_add(1);
        Ok(signature(checksum, seq))
    }

    /// Checks the client's mechListMIC over `data` the same way (MS-SPNG 3.2.5.1).
    pub(super) fn verify_mic(&mut self, data: &[u8], mic: &[u8]) -> Result<(), AuthError> {
        let seq = self.recv.seq;
        let mut checksum = self.recv.checksum(seq, &[data])?;
        if self.key_exch {
            new_handle(&self.recv.seal_key)?.apply_keystream(&mut checksum);
        }
        self.recv.seq = seq.wrapping_add(1);
        if !constant_time_eq(&signature(checksum, seq), mic) {
            return Err(AuthError::new(
                AuthFailure::LogonFailure,
                "logon denied: the SPNEGO mechListMIC does not verify",
            ));
        }
        Ok(())
    }

    /// Sign (and seal `body`, when `seal`) one fragment: the MAC covers `pdu[..sig.start]`.
    pub(super) fn protect(
        &mut self,
        pdu: &mut [u8],
        body: std::ops::Range<usize>,
        sig: std::ops::Range<usize>,
        seal: bool,
    ) -> Result<(), AuthError> {
        check_layout(pdu, &body, &sig)?;
        let seq = self.send.seq;
        let mut checksum = self.send.checksum(seq, &[&pdu[..sig.start]])?;
        if seal {
            self.send.handle.apply_keystream(&mut pdu[body]);
        }
        if self.key_exch {
            self.send.handle.apply_keystream(&mut checksum);
        }
        self.send.seq = seq.wrapping_add(1);
        pdu[sig].copy_from_slice(&signature(checksum, seq));
        Ok(())
    }

    /// Verify (and unseal) one fragment; same ranges as [`protect`](Self::protect).
    pub(super) fn verify(
        &mut self,
        pdu: &mut [u8],
        body: std::ops::Range<usize>,
        sig: std::ops::Range<usize>,
        seal: bool,
    ) -> Result<(), AuthError> {
        check_layout(pdu, &body, &sig)?;
        let tampered = |what: &str| AuthError::new(AuthFailure::Tampered, format!("NTLM: {what}"));
        let got: [u8; SIGNATURE_LEN] = pdu[sig.clone()]
            .try_into()
            .map_err(|_| tampered("the signature is not 16 bytes"))?;
        let seq = self.recv.seq;
        if got[..4] != [1, 0, 0, 0] {
            return Err(tampered("bad signature version"));
        }
        if got[12..] != seq.to_le_bytes() {
            return Err(tampered("out of sequence"));
        }
        if seal {
            self.recv.handle.apply_keystream(&mut pdu[body]);
        }
        let mut checksum = self.recv.checksum(seq, &[&pdu[..sig.start]])?;
        if self.key_exch {
            self.recv.handle.apply_keystream(&mut checksum);
        }
        self.recv.seq = seq.wrapping_add(1);
        if !constant_time_eq(&signature(checksum, seq), &got) {
            return Err(tampered("the signature does not verify"));
        }
        Ok(())
    }
}

/// Checks an NTLMv2 response against `password` (MS-NLMP 3.3.2): NTProofStr, the first 16 bytes
/// of the AUTHENTICATE message's NtChallengeResponse, must be HMAC_MD5(NTOWFv2, ServerChallenge ||
/// the rest of the response), where NTOWFv2 = HMAC_MD5(MD4(UNICODE(password)),
/// UNICODE(Uppercase(user) || domain)), with the user and domain as the message carries them.
/// `None` when the message holds no NTLMv2 response (NTLMv1, anonymous): nothing to check here.
pub(super) fn ntlmv2_proof_matches(
    authenticate: &[u8],
    challenge: &[u8],
    user: &str,
    domain: &str,
    password: &str,
) -> Option<bool> {
    let server_challenge = challenge.get(24..32)?;
    let header = authenticate.get(20..28)?;
    let len = usize::from(u16::from_le_bytes([header[0], header[1]]));
    let off = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let nt = authenticate.get(off..off.checked_add(len)?)?;
    // NTLMv1 responses are 24 bytes; an NTLMv2 one is NTProofStr and a blob of at least 28.
    if nt.len() < 16 + 28 {
        return None;
    }
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let nt_hash: [u8; 16] = md4::Md4::digest(utf16(password)).into();
    let hmac = |key: &[u8], parts: &[&[u8]]| -> Option<[u8; 16]> {
        let mut mac = <Hmac<Md5>>::new_from_slice(key).ok()?;
        for p in parts {
            mac.update(p);
        }
        Some(mac.finalize().into_bytes().into())
    };
    let identity = utf16(&format!("{}{}", user.to_uppercase(), domain));
    let ntowf = hmac(&nt_hash, &[&identity])?;
    let proof = hmac(&ntowf, &[server_challenge, &nt[16..]])?;
    Some(constant_time_eq(&proof, &nt[..16]))
}

fn check_layout(
    pdu: &[u8],
    body: &std::ops::Range<usize>,
    sig: &std::ops::Range<usize>,
) -> Result<(), AuthError> {
    if body.start > body.end
        || body.end > sig.start
        || sig.end > pdu.len()
        || sig.end - sig.start != SIGNATURE_LEN
    {
        return Err(AuthError::new(AuthFailure::Tampered, "bad fragment layout"));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// MS-NLMP 4.2.4 (NTLMv2 with ESS and key exchange): the exported session key
    /// 55555555..., "Plaintext" sealed by the client with sequence number 0.
    #[test]
    fn matches_ms_nlmp_4_2_4_sample() {
        let key = [0x55u8; 16];
        // The client's direction is this session's recv direction; make a "client" by swapping.
        let mut client = NtlmSession {
            send: Direction::new(&key, CLIENT_SIGN, CLIENT_SEAL).unwrap(),
            recv: Direction::new(&key, SERVER_SIGN, SERVER_SEAL).unwrap(),
            key_exch: true,
        };
        let plain: Vec<u8> = "Plaintext"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut pdu = plain.clone();
        pdu.extend_from_slice(&[0; 16]);
        let n = plain.len();
        client.protect(&mut pdu, 0..n, n..n + 16, true).unwrap();
        assert_eq!(
            &pdu[..n],
            &[
                0x54, 0xe5, 0x01, 0x65, 0xbf, 0x19, 0x36, 0xdc, 0x99, 0x60, 0x20, 0xc1, 0x81, 0x1b,
                0x0f, 0x06, 0xfb, 0x5f
            ]
        );
        assert_eq!(
            &pdu[n..],
            &[
                0x01, 0, 0, 0, 0x7f, 0xb3, 0x8e, 0xc5, 0xc5, 0x5d, 0x49, 0x76, 0, 0, 0, 0
            ]
        );
    }

    /// MS-NLMP 4.2.4: user "User", domain "Domain", password "Password", server challenge
    /// 0123456789abcdef, the `temp` of 4.2.4.1.3, NTProofStr 68cd0ab8...
    #[test]
    fn ntlmv2_proof_matches_ms_nlmp_4_2_4_sample() {
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let mut temp = vec![1u8, 1, 0, 0, 0, 0, 0, 0];
        temp.extend([0u8; 8]);
        temp.extend([0xaau8; 8]);
        temp.extend([0u8; 4]);
        temp.extend([2u8, 0, 12, 0]);
        temp.extend(utf16("Domain"));
        temp.extend([1u8, 0, 12, 0]);
        temp.extend(utf16("Server"));
        temp.extend([0u8; 8]);
        let proof = [
            0x68, 0xcd, 0x0a, 0xb8, 0x51, 0xe5, 0x1c, 0x96, 0xaa, 0xbc, 0x92, 0x7b, 0xeb, 0xef,
            0x6a, 0x1c,
        ];
        let mut nt = proof.to_vec();
        nt.extend(&temp);
        let mut auth = b"NTLMSSP\0\x03\0\0\0".to_vec();
        auth.resize(88, 0);
        auth[20..22].copy_from_slice(&(nt.len() as u16).to_le_bytes());
        auth[24..28].copy_from_slice(&88u32.to_le_bytes());
        auth.extend(&nt);
        let mut challenge = vec![0u8; 32];
        challenge[24..].copy_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        assert_eq!(
            ntlmv2_proof_matches(&auth, &challenge, "User", "Domain", "Password"),
            Some(true)
        );
        assert_eq!(
            ntlmv2_proof_matches(&auth, &challenge, "User", "Domain", "Passw0rd"),
            Some(false)
        );
        assert_eq!(
            ntlmv2_proof_matches(&auth, &challenge, "User", "Other", "Password"),
            Some(false)
        );
        // Truncated messages and NTLMv1-sized responses have nothing to check.
        assert_eq!(
            ntlmv2_proof_matches(&auth[..40], &challenge, "User", "Domain", "Password"),
            None
        );
        assert_eq!(
            ntlmv2_proof_matches(&auth, &challenge[..20], "User", "Domain", "Password"),
            None
        );
        auth[20..22].copy_from_slice(&24u16.to_le_bytes());
        assert_eq!(
            ntlmv2_proof_matches(&auth, &challenge, "User", "Domain", "Password"),
            None
        );
    }

    #[test]
    fn server_verifies_client_and_detects_tampering_and_replay() {
        let key = [0x11u8; 16];
        let flags = NEGOTIATE_ESS | NEGOTIATE_KEY_EXCH;
        for seal in [false, true] {
            let mut server = NtlmSession::server(&key, flags).unwrap();
            let mut client = NtlmSession {
                send: Direction::new(&key, CLIENT_SIGN, CLIENT_SEAL).unwrap(),
                recv: Direction::new(&key, SERVER_SIGN, SERVER_SEAL).unwrap(),
                key_exch: true,
            };
            let mic = client.make_mic(b"mechtypes").unwrap();
            server.verify_mic(b"mechtypes", &mic).unwrap();
            let mut frag = b"header-stub-stub-trailer\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec();
            let orig = frag.clone();
            client.protect(&mut frag, 7..19, 24..40, seal).unwrap();
            // The first message after the MIC has sequence number 1.
            assert_eq!(frag[36..40], 1u32.to_le_bytes());
            let mut copy = frag.clone();
            server.verify(&mut frag, 7..19, 24..40, seal).unwrap();
            assert_eq!(frag[..24], orig[..24]);
            // Replayed: out of sequence.
            assert!(server.verify(&mut copy, 7..19, 24..40, seal).is_err());
            // Tampered.
            let mut next = orig.clone();
            client.protect(&mut next, 7..19, 24..40, seal).unwrap();
            next[2] ^= 1;
            assert!(server.verify(&mut next, 7..19, 24..40, seal).is_err());
        }
        // A wrong MIC is a logon failure.
        let mut server = NtlmSession::server(&key, flags).unwrap();
        let e = server.verify_mic(b"mechtypes", &[0u8; 16]).unwrap_err();
        assert_eq!(e.kind, AuthFailure::LogonFailure);
        assert!(NtlmSession::server(&key, NEGOTIATE_KEY_EXCH).is_err());
    }
}
