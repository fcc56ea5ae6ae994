//! Presentation-context negotiation for bind and alter_context (C706 §12.6.4.3, MS-RPCE 3.3.1.5.6)
//! and bind-time feature negotiation (MS-RPCE 2.2.2.14, 3.3.1.5.3).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};

use uuid::Uuid;

use crate::wire::{Bind, BindAckResult, ContextElement, ContextResult, ProviderReason, SyntaxId};

/// The bind-time feature bitmask (MS-RPCE 2.2.2.14), carried in the last 8 octets of a transfer
/// syntax UUID that starts `6cb71c2c-9812-4540`, version 1.0.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BindTimeFeatures(pub u16);

impl BindTimeFeatures {
    /// No features.
    pub const NONE: BindTimeFeatures = BindTimeFeatures(0);
    /// Security context multiplexing supported.
    pub const SECURITY_CONTEXT_MULTIPLEXING: BindTimeFeatures = BindTimeFeatures(0x01);
    /// Keep the connection open after the client sends an orphaned PDU (MS-RPCE 3.3.1.5.10).
    pub const KEEP_CONNECTION_ON_ORPHAN: BindTimeFeatures = BindTimeFeatures(0x02);
    /// Both features.
    pub const ALL: BindTimeFeatures = BindTimeFeatures(0x03);

    /// True if every bit of `other` is set.
    pub fn contains(self, other: BindTimeFeatures) -> bool {
        self.0 & other.0 == other.0
    }
    /// Bits set in both.
    #[must_use]
    pub fn intersect(self, other: BindTimeFeatures) -> BindTimeFeatures {
        BindTimeFeatures(self.0 & other.0)
    }

    /// The transfer syntax that offers these features in a bind.
    pub fn to_syntax(self) -> SyntaxId {
        let mut d4 = [0u8; 8];
        d4[..2].copy_from_slice(&self.0.to_le_bytes());
        SyntaxId::new(Uuid::from_fields(0x6cb7_1c2c, 0x9812, 0x4540, &d4), 1, 0)
    }

    /// The offered features if `s` is a bind-time feature negotiation syntax.
    pub fn from_syntax(s: &SyntaxId) -> Option<BindTimeFeatures> {
        let (d1, d2, d3, d4) = s.uuid.as_fields();
        if d1 == 0x6cb7_1c2c && d2 == 0x9812 && d3 == 0x4540 && s.major == 1 && s.minor == 0 {
            Some(BindTimeFeatures(u16::from_le_bytes([d4[0], d4[1]])))
        } else {
            None
        }
    }
}

impl fmt::Debug for BindTimeFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BindTimeFeatures({:#06x})", self.0)
    }
}

/// Which transfer syntax a server picks when a client offers several for one interface.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub enum TransferSyntaxPolicy {
    /// NDR20 unless only NDR64 (or another syntax) is offered. The default.
    #[default]
    PreferNdr20,
    /// NDR64 when offered, else NDR20.
    PreferNdr64,
    /// The first of the registry's transfer syntaxes for the interface (in the order
    /// [`InterfaceRegistry::transfer_syntaxes`] lists them) that the client offered: a preference
    /// per interface (MS-RPCE 3.3.3.1.3).
    RegistryOrder,
}

/// What a server serves; the runtime implements it (shared by all connections of a server).
pub trait InterfaceRegistry: Send + Sync {
    /// The transfer syntaxes the server accepts for `interface` (a client's offer: UUID and
    /// version), most preferred first, or `None` if no registered interface serves it.
    /// Implementations apply the version rule with [`SyntaxId::is_served_by`]. The order decides
    /// under [`TransferSyntaxPolicy::RegistryOrder`].
    fn transfer_syntaxes(&self, interface: &SyntaxId) -> Option<Vec<SyntaxId>>;

    /// The association group for a bind asking for `requested` (0 = a new group). Return
    /// `requested` to let the connection join that group, a fresh non-zero id for a new group,
    /// or 0 to refuse the bind: Windows answers a bind for a group that does not exist with
    /// bind_nak "not specified" (Samba's raw_protocol `test_assoc_group_fail*`, docs/interop.md).
    fn assoc_group(&self, requested: u32) -> u32;
}

/// A fixed [`InterfaceRegistry`]: a list of interfaces and their transfer syntaxes, and a
/// counter for association groups. Groups asked for by id are joined without a check.
#[derive(Debug)]
pub struct StaticRegistry {
    interfaces: Vec<(SyntaxId, Vec<SyntaxId>)>,
    next_group: AtomicU32,
}

impl StaticRegistry {
    /// A registry serving `interfaces`, each with its transfer syntaxes.
    pub fn new(interfaces: Vec<(SyntaxId, Vec<SyntaxId>)>) -> StaticRegistry {
        StaticRegistry {
            interfaces,
            next_group: AtomicU32::new(0x1234_5000),
        }
    }
}

impl InterfaceRegistry for StaticRegistry {
    fn transfer_syntaxes(&self, interface: &SyntaxId) -> Option<Vec<SyntaxId>> {
        self.interfaces
            .iter()
            .find(|(served, _)| interface.is_served_by(served))
            .map(|(_, ts)| ts.clone())
    }

    fn assoc_group(&self, requested: u32) -> u32 {
        if requested != 0 {
            return requested;
        }
        self.next_group.fetch_add(1, Ordering::Relaxed)
    }
}

/// A presentation context both sides agreed on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PresentationContext {
    /// `p_cont_id`.
    pub context_id: u16,
    /// The interface, as the client offered it.
    pub interface: SyntaxId,
    /// The chosen transfer syntax.
    pub transfer_syntax: SyntaxId,
}

impl PresentationContext {
    /// The transfer syntax as the marshalling engine names it: NDR64 when the context chose it,
    /// NDR20 otherwise (negotiation accepts no other).
    pub fn syntax(&self) -> msrpc_ndr::Syntax {
        if self.transfer_syntax == SyntaxId::NDR64 {
            msrpc_ndr::Syntax::Ndr64
        } else {
            msrpc_ndr::Syntax::Ndr20
        }
    }
}

/// The server's answer to the contexts of one bind or alter_context.
#[derive(Debug)]
pub(crate) struct ServerNegotiation {
    pub(crate) results: Vec<ContextResult>,
    pub(crate) accepted: Vec<PresentationContext>,
    pub(crate) features: Option<BindTimeFeatures>,
}

/// Negotiate the contexts of `bind` on the server side.
///
/// Each element is answered in order. A feature-negotiation element gets `NEGOTIATE_ACK` with the
/// accepted bits in the reason field (MS-RPCE 3.3.1.5.3). For an interface the registry does not
/// serve the result is provider rejection, reason 1; if no offered transfer syntax is acceptable,
/// reason 2. When one bind offers an interface in several elements with different transfer syntaxes
/// (as Windows clients do), only the element with the syntax the policy prefers is accepted.
pub(crate) fn negotiate_server(
    bind: &Bind,
    registry: &dyn InterfaceRegistry,
    policy: TransferSyntaxPolicy,
    supported_features: BindTimeFeatures,
    features_already: bool,
) -> ServerNegotiation {
    // First pass: per interface, all acceptable syntaxes offered anywhere in this PDU.
    let mut served: HashMap<SyntaxId, Option<Vec<SyntaxId>>> = HashMap::new();
    let mut offered: HashMap<SyntaxId, Vec<SyntaxId>> = HashMap::new();
    for el in &bind.contexts {
        if is_feature_element(el) {
            continue;
        }
        let ts = served
            .entry(el.abstract_syntax)
            .or_insert_with(|| registry.transfer_syntaxes(&el.abstract_syntax));
        if let Some(ts) = ts {
            let o = offered.entry(el.abstract_syntax).or_default();
            for t in &el.transfer_syntaxes {
                if ts.contains(t) && !o.contains(t) {
                    o.push(*t);
                }
            }
        }
    }
    let mut features = None;
    let mut results = Vec::with_capacity(bind.contexts.len());
    let mut accepted = Vec::new();
    let mut taken: Vec<SyntaxId> = Vec::new();
    for el in &bind.contexts {
        if is_feature_element(el) {
            if features.is_none() && !features_already {
                let offered = el
                    .transfer_syntaxes
                    .first()
                    .and_then(BindTimeFeatures::from_syntax)
                    .unwrap_or_default();
                let acc = offered.intersect(supported_features);
                features = Some(acc);
                results.push(ContextResult {
                    result: BindAckResult::NEGOTIATE_ACK,
                    reason: acc.0,
                    transfer_syntax: SyntaxId::NIL,
                });
            } else {
                results.push(reject(
                    ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED,
                ));
            }
            continue;
        }
        let Some(Some(_)) = served.get(&el.abstract_syntax) else {
            results.push(reject(ProviderReason::ABSTRACT_SYNTAX_NOT_SUPPORTED));
            continue;
        };
        let choice = offered.get(&el.abstract_syntax).and_then(|o| {
            let served = served.get(&el.abstract_syntax).and_then(Option::as_deref);
            choose(o, served.unwrap_or_default(), policy)
        });
        match choice {
            Some(ts)
                if el.transfer_syntaxes.contains(&ts) && !taken.contains(&el.abstract_syntax) =>
            {
                taken.push(el.abstract_syntax);
                accepted.push(PresentationContext {
                    context_id: el.context_id,
                    interface: el.abstract_syntax,
                    transfer_syntax: ts,
                });
                results.push(ContextResult {
                    result: BindAckResult::ACCEPTANCE,
                    reason: 0,
                    transfer_syntax: ts,
                });
            }
            _ => results.push(reject(
                ProviderReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED,
            )),
        }
    }
    ServerNegotiation {
        results,
        accepted,
        features,
    }
}

/// A presentation context list Windows refuses as a whole (bind_nak, or a proto_error fault for
/// alter_context, then the close): an element with no transfer syntax (the suite's
/// `test_no_auth_presentation_ctx_invalid2`, `_invalid3`), or more than one bind-time feature
/// negotiation element (`test_no_auth_bind_time_twice`).
pub(crate) fn malformed_context_list(bind: &Bind) -> bool {
    bind.contexts
        .iter()
        .any(|el| el.transfer_syntaxes.is_empty())
        || bind
            .contexts
            .iter()
            .filter(|el| is_feature_element(el))
            .count()
            > 1
}

/// A context element is a bind-time feature negotiation when its first transfer syntax is the
/// feature syntax; Windows ignores any transfer syntaxes after it (the suite's
/// `test_no_auth_bind_time_*_ignore_additional`) and answers from the first one's bits.
fn is_feature_element(el: &ContextElement) -> bool {
    el.transfer_syntaxes
        .first()
        .is_some_and(|t| BindTimeFeatures::from_syntax(t).is_some())
}

fn reject(reason: ProviderReason) -> ContextResult {
    ContextResult {
        result: BindAckResult::PROVIDER_REJECTION,
        reason: reason.0,
        transfer_syntax: SyntaxId::NIL,
    }
}

/// The syntax to accept among `offered` (those of the client's that the registry serves), given
/// the registry's own list for the interface, most preferred first.
fn choose(
    offered: &[SyntaxId],
    served: &[SyntaxId],
    policy: TransferSyntaxPolicy,
) -> Option<SyntaxId> {
    let order: &[SyntaxId] = match policy {
        TransferSyntaxPolicy::PreferNdr20 => &[SyntaxId::NDR20, SyntaxId::NDR64],
        TransferSyntaxPolicy::PreferNdr64 => &[SyntaxId::NDR64, SyntaxId::NDR20],
        TransferSyntaxPolicy::RegistryOrder => served,
    };
    order
        .iter()
        .find(|s| offered.contains(s))
        .copied()
        .or_else(|| offered.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_syntax_round_trip() {
        let s = BindTimeFeatures::ALL.to_syntax();
        assert_eq!(s.uuid.to_string(), "6cb71c2c-9812-4540-0300-000000000000");
        assert_eq!(
            BindTimeFeatures::from_syntax(&s),
            Some(BindTimeFeatures::ALL)
        );
        assert_eq!(BindTimeFeatures::from_syntax(&SyntaxId::NDR20), None);
    }

    #[test]
    fn version_rule() {
        let served = SyntaxId::new(Uuid::nil(), 3, 2);
        assert!(SyntaxId::new(Uuid::nil(), 3, 0).is_served_by(&served));
        assert!(SyntaxId::new(Uuid::nil(), 3, 2).is_served_by(&served));
        assert!(!SyntaxId::new(Uuid::nil(), 3, 3).is_served_by(&served));
        assert!(!SyntaxId::new(Uuid::nil(), 2, 0).is_served_by(&served));
    }
}
