//! A bounds-checked big-endian reader, shared by the Kerberos files msrpc parses (keytabs and MIT
//! credential caches). Every read checks what is left; running out is the file's own "malformed"
//! error, never a panic.

use msrpc_proto::auth::AuthError;

pub(super) struct BeReader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The file kind's error for bad input (it names the kind: "malformed keytab: ...").
    malformed: fn(&str) -> AuthError,
}

impl<'a> BeReader<'a> {
    pub(super) fn new(bytes: &'a [u8], malformed: fn(&str) -> AuthError) -> Self {
        BeReader {
            bytes,
            at: 0,
            malformed,
        }
    }

    /// The file kind's error for `why`.
    pub(super) fn malformed(&self, why: &str) -> AuthError {
        (self.malformed)(why)
    }

    /// Bytes not read yet.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub(super) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], AuthError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| self.malformed("truncated"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn u8(&mut self) -> Result<u8, AuthError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, AuthError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub(super) fn u32(&mut self) -> Result<u32, AuthError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// `n` bytes that must be a UTF-8 name.
    pub(super) fn utf8(&mut self, n: usize) -> Result<String, AuthError> {
        let bytes = self.take(n)?.to_vec();
        String::from_utf8(bytes).map_err(|_| self.malformed("a name that is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msrpc_proto::auth::AuthFailure;

    fn bad(why: &str) -> AuthError {
        AuthError::new(AuthFailure::Package, format!("malformed test file: {why}"))
    }

    #[test]
    fn reads_big_endian_and_refuses_to_run_past_the_end() {
        let mut r = BeReader::new(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, b'a', 0xff], bad);
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u32().unwrap(), 0x0405_0607);
        assert_eq!(r.remaining(), 2);
        assert_eq!(r.utf8(1).unwrap(), "a");
        let e = r.utf8(1).unwrap_err();
        assert!(
            e.detail
                .contains("malformed test file: a name that is not UTF-8"),
            "{e}"
        );
        assert!(r.is_empty());
        let e = r.u8().unwrap_err();
        assert!(e.detail.contains("truncated"), "{e}");
        assert!(r.take(usize::MAX).is_err());
    }
}
