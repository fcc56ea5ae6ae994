//! A small DER reader and writer for SPNEGO tokens (RFC 4178 over X.690).
//!
//! Hand-written rather than taken from a DER crate because the acceptor needs the exact bytes of
//! the client's `mechTypes` as they were received (its mechListMIC is computed over them, and a
//! re-encoding could differ), and because every read here must be bounded by the token and
//! never panic. Reading only definite lengths of up to four bytes; nothing is allocated while
//! reading.

use msrpc_proto::auth::{AuthError, AuthFailure};

/// The largest SPNEGO token the acceptor reads. A token travels in one bind, alter_context or
/// rpc_auth_3 PDU, whose fragment is far smaller; this bounds anything else that passes one in.
pub(super) const MAX_SPNEGO_TOKEN: usize = 64 * 1024;

/// Nesting depth of the structures read (GSS wrapper, choice, sequence, field, value).
const MAX_DEPTH: usize = 8;

/// One DER element: its tag byte, its contents, and its whole encoding (tag, length, contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Element<'a> {
    pub(super) tag: u8,
    pub(super) contents: &'a [u8],
    pub(super) raw: &'a [u8],
}

fn bad(what: &str) -> AuthError {
    AuthError::new(
        AuthFailure::BadToken,
        format!("malformed SPNEGO token: {what}"),
    )
}

/// Reads the elements of one constructed value, in order.
#[derive(Debug, Clone)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes` (a whole token).
    pub(super) fn new(bytes: &'a [u8]) -> Result<Reader<'a>, AuthError> {
        if bytes.len() > MAX_SPNEGO_TOKEN {
            return Err(bad("token too large"));
        }
        Ok(Reader {
            rest: bytes,
            depth: 0,
        })
    }

    /// Whether every element has been read.
    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element.
    pub(super) fn next(&mut self) -> Result<Element<'a>, AuthError> {
        let b = self.rest;
        let (&tag, after_tag) = b.split_first().ok_or_else(|| bad("truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte tag"));
        }
        let (&first, after_len) = after_tag
            .split_first()
            .ok_or_else(|| bad("truncated length"))?;
        let (len, body) = if first < 0x80 {
            (usize::from(first), after_len)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(bad("indefinite length"));
            }
            if n > 4 || after_len.len() < n {
                return Err(bad("bad length"));
            }
            let len = after_len[..n]
                .iter()
                .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
            (len, &after_len[n..])
        };
        if body.len() < len {
            return Err(bad("length past the end"));
        }
        let header = b.len() - body.len();
        let element = Element {
            tag,
            contents: &body[..len],
            raw: &b[..header + len],
        };
        self.rest = &body[len..];
        Ok(element)
    }

    /// The next element, which must have `tag`.
    pub(super) fn expect(&mut self, tag: u8, what: &str) -> Result<Element<'a>, AuthError> {
        let e = self.next()?;
        if e.tag != tag {
            return Err(bad(what));
        }
        Ok(e)
    }

    /// A reader over the contents of a constructed element.
    pub(super) fn inner(&self, e: &Element<'a>) -> Result<Reader<'a>, AuthError> {
        if e.tag & 0x20 == 0 {
            return Err(bad("primitive where a constructed value was expected"));
        }
        if self.depth >= MAX_DEPTH {
            return Err(bad("nested too deeply"));
        }
        Ok(Reader {
            rest: e.contents,
            depth: self.depth + 1,
        })
    }

    /// The only element of an explicitly tagged field's contents (`[n] EXPLICIT T`).
    pub(super) fn explicit(&self, field: &Element<'a>) -> Result<Element<'a>, AuthError> {
        let mut r = self.inner(field)?;
        let e = r.next()?;
        if !r.is_empty() {
            return Err(bad("trailing bytes in a tagged field"));
        }
        Ok(e)
    }
}

/// Tags used here.
pub(super) mod tag {
    pub(crate) const ENUMERATED: u8 = 0x0a;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const APPLICATION_0: u8 = 0x60;
    /// Context-specific constructed `[n]`.
    pub(crate) const fn context(n: u8) -> u8 {
        0xa0 | n
    }
}

/// The DER encoding of a tag, a definite length, and `contents`.
pub(super) fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_nested_elements_and_keeps_their_raw_bytes() {
        let inner = encode(tag::OID, &[0x2b, 6, 1]);
        let seq = encode(tag::SEQUENCE, &inner);
        let mut r = Reader::new(&seq).unwrap();
        let e = r.expect(tag::SEQUENCE, "seq").unwrap();
        assert_eq!(e.raw, &seq[..]);
        assert!(r.is_empty());
        let mut r2 = r.inner(&e).unwrap();
        let oid = r2.expect(tag::OID, "oid").unwrap();
        assert_eq!(oid.contents, &[0x2b, 6, 1]);
        assert!(r2.is_empty());
    }

    #[test]
    fn long_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let v = vec![7u8; len];
            let enc = encode(tag::OCTET_STRING, &v);
            if len <= MAX_SPNEGO_TOKEN - 8 {
                let mut r = Reader::new(&enc).unwrap();
                assert_eq!(r.next().unwrap().contents.len(), len);
            } else {
                assert!(Reader::new(&enc).is_err());
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x82, 0x01],
            &[0x1f, 0x01, 0x00],
        ];
        for c in cases {
            let mut r = Reader::new(c).unwrap();
            assert!(r.next().is_err(), "{c:02x?}");
        }
        // A primitive element cannot be entered; an explicit field must hold exactly one value.
        let mut r = Reader::new(&[0x04, 0x01, 0x00]).unwrap();
        let e = r.next().unwrap();
        assert!(r.inner(&e).is_err());
        let two = [0xa0, 0x04, 0x05, 0x00, 0x05, 0x00];
        let mut r = Reader::new(&two).unwrap();
        let e = r.next().unwrap();
        assert!(r.explicit(&e).is_err());
        // Deep nesting stops at MAX_DEPTH.
        let mut deep = vec![0x05, 0x00];
        for _ in 0..20 {
            deep = encode(tag::SEQUENCE, &deep);
        }
        let mut r = Reader::new(&deep).unwrap();
        let mut e = r.next().unwrap();
        let mut failed = false;
        for _ in 0..20 {
            match r.inner(&e) {
                Ok(mut next) => {
                    e = next.next().unwrap();
                    r = next;
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed);
    }
}
