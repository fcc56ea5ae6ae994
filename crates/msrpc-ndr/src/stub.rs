//! Whole stubs: what the generated `*Request` and `*Response` types of each operation are.

use crate::decode::{DecodeLimits, Decoder};
use crate::encode::Encoder;
use crate::error::Result;
use crate::rep::{DataRep, Syntax};

/// The `[in]` parameters (a request stub) or the `[out]` parameters and return value (a
/// response stub) of one operation, as the IDL compiler generates them.
///
/// Generated code implements the two required methods, which encode and decode the parameters
/// in order with [`Encoder::encode_param`] and [`Decoder::decode_param`]; the whole-stub forms
/// are provided here once instead of in every generated type. Their names are those of
/// inherent methods a caller would expect, so bring the trait into scope to call them:
///
/// ```
/// use msrpc_ndr::{DataRep, Decoder, Encoder, Result, Stub as _, Syntax};
///
/// # #[derive(Debug, PartialEq)]
/// struct EchoRequest { value: u32 }
///
/// impl msrpc_ndr::Stub for EchoRequest {
///     const OPNUM: u16 = 0;
///     fn encode_into(&self, e: &mut Encoder) -> Result<()> {
///         e.encode_param(&self.value)
///     }
///     fn decode_from(d: &mut Decoder<'_>) -> Result<Self> {
///         Ok(EchoRequest { value: d.field("value", |d| d.decode_param())? })
///     }
/// }
///
/// let stub = EchoRequest { value: 7 }.encode(Syntax::Ndr20, DataRep::LITTLE_ENDIAN)?;
/// assert_eq!(stub, [7, 0, 0, 0]);
/// let back = EchoRequest::decode(&stub, Syntax::Ndr20, DataRep::LITTLE_ENDIAN)?;
/// assert_eq!(back, EchoRequest { value: 7 });
/// # Ok::<(), msrpc_ndr::Error>(())
/// ```
pub trait Stub: Sized {
    /// The operation number.
    const OPNUM: u16;

    /// Encodes into `e`, which must be at the start of the stub data.
    fn encode_into(&self, e: &mut Encoder) -> Result<()>;

    /// Decodes from `d`; the caller checks for trailing bytes.
    fn decode_from(d: &mut Decoder<'_>) -> Result<Self>;

    /// Encodes a whole stub.
    fn encode(&self, syntax: Syntax, rep: DataRep) -> Result<Vec<u8>> {
        let mut e = Encoder::new(syntax, rep);
        self.encode_into(&mut e)?;
        Ok(e.into_bytes())
    }

    /// Decodes a whole stub with the default [`DecodeLimits`], rejecting trailing bytes.
    fn decode(stub: &[u8], syntax: Syntax, rep: DataRep) -> Result<Self> {
        Self::decode_with_limits(stub, syntax, rep, DecodeLimits::default())
    }

    /// Decodes a whole stub under `limits`, rejecting trailing bytes (what servers and clients
    /// use, with the limits of their configuration).
    fn decode_with_limits(
        stub: &[u8],
        syntax: Syntax,
        rep: DataRep,
        limits: DecodeLimits,
    ) -> Result<Self> {
        let mut d = Decoder::with_limits(stub, syntax, rep, limits);
        let v = Self::decode_from(&mut d)?;
        d.finish()?;
        Ok(v)
    }
}
