//! The `tracing` span of each call, on both sides (docs/runtime.md, "Tracing").
//!
//! Every call, client or server, gets one `debug` span named `rpc_call` (target `msrpc::call`) with
//! the fields
//! `side`, `interface`, `opnum`, `call_id`, `assoc_group` and `auth_level`, and, once the call has
//! ended, `status` (in words: `ok`, `fault nca_s_op_rng_error`, `cancelled`, ...) and
//! `duration_us`. As it ends, one `debug` event, "call ended", is emitted inside the span: with a
//! `fmt` subscriber at `debug` that is one line per call with all the fields.
//!
//! When no subscriber listens at `debug` for `msrpc`, creating the span is one check of tracing's
//! cached interest: no field is formatted, the clock is not read, nothing is allocated.

use std::borrow::Cow;
use std::time::Instant;

use msrpc_proto::{FaultStatus, Win32Status};

/// One call's span and the moment it began: nothing but a null pointer when nobody listens, so
/// the in-flight maps of both connection tasks grow by one word per call.
#[derive(Debug)]
pub(crate) struct CallSpan(Option<Box<(tracing::Span, Instant)>>);

impl CallSpan {
    /// Wraps a span made by [`call_span!`]; the clock is read only when someone listens.
    pub(crate) fn new(span: tracing::Span) -> CallSpan {
        CallSpan((!span.is_disabled()).then(|| Box::new((span, Instant::now()))))
    }

    /// The span, to enter while code of the call runs (a disabled one when nobody listens).
    pub(crate) fn span(&self) -> tracing::Span {
        self.0
            .as_ref()
            .map_or_else(tracing::Span::none, |b| b.0.clone())
    }

    /// Records the final status (computed only when the span is enabled) and the duration, emits
    /// the "call ended" event and closes the span.
    pub(crate) fn end(self, status: impl FnOnce() -> Cow<'static, str>) {
        let Some(b) = self.0 else { return };
        let (span, start) = *b;
        let us = start.elapsed().as_micros() as u64;
        let status = status();
        span.record("status", &*status);
        span.record("duration_us", us);
        tracing::debug!(target: "msrpc::call", parent: &span, "call ended");
    }
}

/// Makes a call's span (disabled, at no cost, unless a subscriber wants `debug` here).
macro_rules! call_span {
    ($side:literal, $interface:expr, $opnum:expr, $call_id:expr, $assoc_group:expr, $auth_level:expr) => {
        $crate::trace::CallSpan::new(tracing::debug_span!(
            target: "msrpc::call",
            "rpc_call",
            side = $side,
            interface = %$interface,
            opnum = $opnum,
            call_id = $call_id,
            assoc_group = format_args!("{:#x}", $assoc_group),
            auth_level = $auth_level,
            status = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        ))
    };
}
pub(crate) use call_span;

/// A fault status in words: `fault nca_s_op_rng_error`, `fault error_access_denied` (a Win32
/// status sent as is), or `fault 0x1c00ffff` when the code has no name.
pub(crate) fn fault_words(status: FaultStatus) -> Cow<'static, str> {
    match status.name().or_else(|| Win32Status(status.0).name()) {
        Some(n) => Cow::Owned(format!("fault {}", n.to_ascii_lowercase())),
        None => Cow::Owned(format!("fault {:#010x}", status.0)),
    }
}

/// A Win32 status in words (`rpc_s_call_cancelled`), or its value.
pub(crate) fn win32_words(status: Win32Status) -> Cow<'static, str> {
    match status.name() {
        Some(n) => Cow::Owned(n.to_ascii_lowercase()),
        None => Cow::Owned(format!("status {:#010x}", status.0)),
    }
}

/// The authentication level of a call in words (`none` for an unauthenticated call).
pub(crate) fn level_words(level: Option<crate::auth::AuthnLevel>) -> &'static str {
    level.map_or("none", crate::auth::AuthnLevel::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_in_words() {
        assert_eq!(
            fault_words(FaultStatus::NCA_S_OP_RNG_ERROR),
            "fault nca_s_op_rng_error"
        );
        assert_eq!(
            fault_words(FaultStatus(Win32Status::ERROR_ACCESS_DENIED.0)),
            "fault error_access_denied"
        );
        assert_eq!(fault_words(FaultStatus(0x1234_5678)), "fault 0x12345678");
        assert_eq!(
            win32_words(Win32Status::RPC_S_CALL_CANCELLED),
            "rpc_s_call_cancelled"
        );
        assert_eq!(level_words(None), "none");
    }
}
