//! What the packages share on top of `sspi`: one client step, the status as the protocol core's
//! step, the context requirements per level, signing and verifying a fragment, and `sspi`'s
//! errors as provider errors.

use std::ops::Range;

use msrpc_proto::auth::{AuthError, AuthFailure, AuthStep, level_protects, level_seals};
use msrpc_proto::wire::AuthLevel;
use sspi::{
    BufferType, ClientRequestFlags, DataRepresentation, EncryptionFlags, SecurityBuffer,
    SecurityBufferFlags, SecurityBufferRef, SecurityStatus, Sspi, SspiImpl,
};

/// An `sspi` NTLM error as a provider error; the package's text never contains secrets.
pub(super) fn package_error(kind: AuthFailure, e: &sspi::Error) -> AuthError {
    sspi_error(kind, e, "NTLM")
}

/// An `sspi` Kerberos error as a provider error.
pub(super) fn krb_error(kind: AuthFailure, e: &sspi::Error) -> AuthError {
    sspi_error(kind, e, "Kerberos")
}

/// An `sspi` error of package `name` as a provider error.
pub(super) fn sspi_error(kind: AuthFailure, e: &sspi::Error, name: &str) -> AuthError {
    let kind = match e.error_type {
        sspi::ErrorKind::LogonDenied => AuthFailure::LogonFailure,
        sspi::ErrorKind::MessageAltered | sspi::ErrorKind::OutOfSequence => {
            if kind == AuthFailure::BadToken {
                AuthFailure::BadToken
            } else {
                AuthFailure::Tampered
            }
        }
        _ => kind,
    };
    AuthError::new(kind, format!("{name}: {}", e.description))
}

/// The most legs either side of NTLM takes; more is a peer looping the exchange.
pub(super) const MAX_LEGS: u8 = 3;

/// Counts one more leg of an exchange: `BadToken` ("too many PACKAGE legs") past `max`, so a peer
/// cannot keep an exchange going for ever.
pub(super) fn next_leg(legs: &mut u8, max: u8, package: &str) -> Result<(), AuthError> {
    *legs = legs.saturating_add(1);
    if *legs > max {
        return Err(AuthError::new(
            AuthFailure::BadToken,
            format!("too many {package} legs"),
        ));
    }
    Ok(())
}

/// One `InitializeSecurityContext` step of a client package.
pub(super) fn init_step<P>(
    pkg: &mut P,
    creds: &mut P::CredentialsHandle,
    level: AuthLevel,
    input: Option<&[u8]>,
    name: &str,
) -> Result<AuthStep, AuthError>
where
    P: Sspi + SspiImpl,
{
    let mut output = vec![SecurityBuffer::new(Vec::new(), BufferType::Token)];
    let mut input_bufs = input.map(|t| vec![SecurityBuffer::new(t.to_vec(), BufferType::Token)]);
    let mut builder = pkg
        .initialize_security_context()
        .with_credentials_handle(creds)
        .with_context_requirements(client_flags(level, ClientRequestFlags::empty()))
        .with_target_data_representation(DataRepresentation::Native)
        .with_output(&mut output);
    if let Some(i) = input_bufs.as_mut() {
        builder = builder.with_input(i);
    }
    let result = pkg
        .initialize_security_context_impl(&mut builder)
        .and_then(|mut g| g.resolve_to_result())
        .map_err(|e| package_error(AuthFailure::BadToken, &e))?;
    step_from(result.status, output, name)
}

/// A package's status and output token as the protocol core's step: another leg, or done
/// (with a last token when the package made one).
pub(super) fn step_from(
    status: SecurityStatus,
    mut output: Vec<SecurityBuffer>,
    name: &str,
) -> Result<AuthStep, AuthError> {
    let token = output.pop().map(|b| b.buffer).unwrap_or_default();
    match status {
        SecurityStatus::ContinueNeeded => Ok(AuthStep::Continue(token)),
        SecurityStatus::Ok | SecurityStatus::CompleteNeeded => {
            Ok(AuthStep::Complete((!token.is_empty()).then_some(token)))
        }
        other => Err(AuthError::new(
            AuthFailure::Package,
            format!("{name}: unexpected status {other:?}"),
        )),
    }
}

/// The context requirements a client asks for at `level`, besides `extra`.
pub(super) fn client_flags(level: AuthLevel, extra: ClientRequestFlags) -> ClientRequestFlags {
    let mut flags = ClientRequestFlags::ALLOCATE_MEMORY | extra;
    if level_protects(level) {
        flags |= ClientRequestFlags::INTEGRITY;
    }
    if level_seals(level) {
        flags |= ClientRequestFlags::CONFIDENTIALITY;
    }
    flags
}

/// Sign (and seal, at privacy) one fragment with a package.
pub(super) fn protect_with<P: Sspi>(
    pkg: &mut P,
    level: AuthLevel,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
) -> Result<(), AuthError> {
    let mut bufs = fragment_buffers(pdu, body, signature, level_seals(level))?;
    pkg.encrypt_message(EncryptionFlags::empty(), &mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Package, &e, "signing"))?;
    Ok(())
}

/// Verify (and unseal, at privacy) one fragment with a package. `fixed_len` is the signature's
/// length when the package has one (NTLM: 16); Kerberos tokens differ by direction (sspi's
/// acceptor sends 60 bytes where its initiator sends 76), so they are not checked here.
pub(super) fn verify_with<P: Sspi>(
    pkg: &mut P,
    level: AuthLevel,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
    fixed_len: Option<usize>,
) -> Result<(), AuthError> {
    if let Some(len) = fixed_len
        && signature.end - signature.start != len
    {
        return Err(AuthError::new(
            AuthFailure::Tampered,
            format!("the signature is not {len} bytes"),
        ));
    }
    let mut bufs = fragment_buffers(pdu, body, signature, level_seals(level))?;
    pkg.decrypt_message(&mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Tampered, &e, "verifying"))?;
    Ok(())
}

/// Sign and seal (privacy) one fragment's stub and pad only, with nothing of the header or the
/// trailer: what Kerberos does without header signing (`PFC_SUPPORT_HEADER_SIGN` not negotiated).
pub(super) fn seal_stub_with<P: Sspi>(
    pkg: &mut P,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
) -> Result<(), AuthError> {
    let mut bufs = stub_buffers(pdu, body, signature)?;
    pkg.encrypt_message(EncryptionFlags::empty(), &mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Package, &e, "sealing"))?;
    Ok(())
}

/// Verify and unseal one fragment sealed by [`seal_stub_with`].
pub(super) fn unseal_stub_with<P: Sspi>(
    pkg: &mut P,
    pdu: &mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
) -> Result<(), AuthError> {
    let mut bufs = stub_buffers(pdu, body, signature)?;
    pkg.decrypt_message(&mut bufs)
        .map_err(|e| sspi_error(AuthFailure::Tampered, &e, "verifying"))?;
    Ok(())
}

/// A fragment's stub and pad (sealed) and its signature, as a package's buffers.
fn stub_buffers<'a>(
    pdu: &'a mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
) -> Result<[SecurityBufferRef<'a>; 2], AuthError> {
    if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
        return Err(AuthError::new(AuthFailure::Tampered, "bad fragment layout"));
    }
    let (_, rest) = pdu.split_at_mut(body.start);
    let (stub, rest) = rest.split_at_mut(body.end - body.start);
    let sig = &mut rest[signature.start - body.end..signature.end - body.end];
    Ok([
        SecurityBufferRef::data_buf(stub),
        SecurityBufferRef::token_buf(sig),
    ])
}

/// Split a fragment into a package's buffers: header, body (sealed or not), trailer and
/// signature. The MAC covers the first three.
fn fragment_buffers<'a>(
    pdu: &'a mut [u8],
    body: &Range<usize>,
    signature: &Range<usize>,
    seal: bool,
) -> Result<[SecurityBufferRef<'a>; 4], AuthError> {
    if body.start > body.end || body.end > signature.start || signature.end > pdu.len() {
        return Err(AuthError::new(AuthFailure::Tampered, "bad fragment layout"));
    }
    let (head, rest) = pdu.split_at_mut(body.start);
    let (stub, rest) = rest.split_at_mut(body.end - body.start);
    let (trailer, rest) = rest.split_at_mut(signature.start - body.end);
    let sig = &mut rest[..signature.end - signature.start];
    let ro = SecurityBufferFlags::SECBUFFER_READONLY_WITH_CHECKSUM;
    let stub = if seal {
        SecurityBufferRef::data_buf(stub)
    } else {
        SecurityBufferRef::data_buf(stub).with_flags(ro)
    };
    Ok([
        SecurityBufferRef::data_buf(head).with_flags(ro),
        stub,
        SecurityBufferRef::data_buf(trailer).with_flags(ro),
        SecurityBufferRef::token_buf(sig),
    ])
}
