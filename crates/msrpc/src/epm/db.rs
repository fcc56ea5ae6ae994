//! The endpoint database behind the endpoint mapper: entries of (object, tower, annotation), and the
//! `ept_lookup` / `ept_map` matching rules of C706 appendix O and MS-RPCE 2.2.1.2 / 3.1.1.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use std::fmt;

use msrpc_ndr::SyntaxId;
use msrpc_ndr::tower::{Floor, Tower};
use msrpc_proto::Win32Status;
use uuid::Uuid;

/// `ept_s_not_registered` / `EPT_S_NOT_REGISTERED` as epm puts it in the status field: no (more)
/// entries match.
pub const EPT_S_NOT_REGISTERED: u32 = 0x16c9_a0d6;
/// `ept_s_invalid_entry`: an entry's tower cannot be used.
pub const EPT_S_INVALID_ENTRY: u32 = 0x16c9_a0d7;
/// `ept_s_cant_perform_op`: the operation is refused (e.g. `ept_insert` from a remote caller).
pub const EPT_S_CANT_PERFORM_OP: u32 = 0x16c9_a0d8;

/// Why the endpoint database refused an operation: one of the `ept_s_*` statuses the endpoint
/// mapper answers in the operation's status field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EptError {
    /// `ept_s_not_registered`: no entry matches.
    NotRegistered,
    /// `ept_s_invalid_entry`: an entry's tower cannot be used (no interface or transfer-syntax
    /// floor).
    InvalidEntry,
    /// `ept_s_cant_perform_op`: the operation is refused (a remote caller, or the map is full).
    CantPerformOp,
}

impl EptError {
    /// The Win32 status a Windows program sees: `EPT_S_NOT_REGISTERED` (1753),
    /// `EPT_S_INVALID_ENTRY` (1751) or `EPT_S_CANT_PERFORM_OP` (1752).
    pub fn status(self) -> Win32Status {
        match self {
            EptError::NotRegistered => Win32Status::EPT_S_NOT_REGISTERED,
            EptError::InvalidEntry => Win32Status::EPT_S_INVALID_ENTRY,
            EptError::CantPerformOp => Win32Status::EPT_S_CANT_PERFORM_OP,
        }
    }

    /// The status as the endpoint mapper puts it on the wire ([`EPT_S_NOT_REGISTERED`],
    /// [`EPT_S_INVALID_ENTRY`], [`EPT_S_CANT_PERFORM_OP`]).
    pub fn code(self) -> u32 {
        match self {
            EptError::NotRegistered => EPT_S_NOT_REGISTERED,
            EptError::InvalidEntry => EPT_S_INVALID_ENTRY,
            EptError::CantPerformOp => EPT_S_CANT_PERFORM_OP,
        }
    }

    /// The error a status field holds, if it is one of the three.
    pub fn from_code(code: u32) -> Option<EptError> {
        match code {
            EPT_S_NOT_REGISTERED => Some(EptError::NotRegistered),
            EPT_S_INVALID_ENTRY => Some(EptError::InvalidEntry),
            EPT_S_CANT_PERFORM_OP => Some(EptError::CantPerformOp),
            _ => None,
        }
    }
}

impl fmt::Display for EptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EptError::NotRegistered => "no entry of the endpoint map matches",
            EptError::InvalidEntry => {
                "an entry's tower cannot be used (it needs interface and transfer syntax floors)"
            }
            EptError::CantPerformOp => {
                "the endpoint mapper cannot perform the operation (refused to a remote caller, \
                 or the map is full)"
            }
        })
    }
}

impl std::error::Error for EptError {}

impl From<EptError> for crate::Error {
    fn from(e: EptError) -> Self {
        crate::Error::status_msg(e.status(), e)
    }
}

/// Longest annotation kept (`ept_max_annotation_size`, including the NUL).
pub const MAX_ANNOTATION: usize = 64;

/// Entries the database holds at most; an `ept_insert` past it is refused with
/// `ept_s_cant_perform_op` and inserts nothing.
pub const MAX_ENTRIES: usize = 4096;

/// One page of `ept_lookup` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage {
    /// The matching entries, in registration order.
    pub entries: Vec<Entry>,
    /// The cursor to continue from (pass it as `after` to the next call).
    pub next: u64,
    /// Whether matching entries remain after this page.
    pub more: bool,
}

/// One registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The object UUID (nil for "any object").
    pub object: Uuid,
    /// The protocol tower: interface, transfer syntax, protocol and endpoint.
    pub tower: Tower,
    /// A description, at most 63 characters.
    pub annotation: String,
}

impl Entry {
    fn interface(&self) -> Option<SyntaxId> {
        self.tower.interface()
    }
}

/// `ept_lookup`'s `inquiry_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inquiry {
    /// `rpc_c_ep_all_elts` (0).
    All,
    /// `rpc_c_ep_match_by_if` (1).
    ByInterface,
    /// `rpc_c_ep_match_by_obj` (2).
    ByObject,
    /// `rpc_c_ep_match_by_both` (3).
    ByBoth,
}

impl Inquiry {
    /// From the wire value; `None` for others.
    pub fn from_u32(v: u32) -> Option<Inquiry> {
        Some(match v {
            0 => Inquiry::All,
            1 => Inquiry::ByInterface,
            2 => Inquiry::ByObject,
            3 => Inquiry::ByBoth,
            _ => return None,
        })
    }
}

/// `ept_lookup`'s `vers_option`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionOption {
    /// `rpc_c_vers_all` (1): any version.
    All,
    /// `rpc_c_vers_compatible` (2): same major, minor at least the one asked.
    Compatible,
    /// `rpc_c_vers_exact` (3).
    Exact,
    /// `rpc_c_vers_major_only` (4).
    MajorOnly,
    /// `rpc_c_vers_upto` (5): at most the version asked.
    UpTo,
}

impl VersionOption {
    /// From the wire value; `None` for others.
    pub fn from_u32(v: u32) -> Option<VersionOption> {
        Some(match v {
            1 => VersionOption::All,
            2 => VersionOption::Compatible,
            3 => VersionOption::Exact,
            4 => VersionOption::MajorOnly,
            5 => VersionOption::UpTo,
            _ => return None,
        })
    }

    fn matches(self, asked: &SyntaxId, have: &SyntaxId) -> bool {
        if asked.uuid != have.uuid {
            return false;
        }
        match self {
            VersionOption::All => true,
            VersionOption::Compatible => asked.is_served_by(have),
            VersionOption::Exact => asked.major == have.major && asked.minor == have.minor,
            VersionOption::MajorOnly => asked.major == have.major,
            VersionOption::UpTo => (have.major, have.minor) <= (asked.major, asked.minor),
        }
    }
}

/// The endpoint database. Thread-safe; entries keep their insertion order, which is the order
/// `ept_lookup` pages through them. Each entry carries a sequence number that never repeats, so a
/// lookup cursor stays valid when other entries come and go between pages.
#[derive(Debug, Default)]
pub struct EndpointDb {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (sequence number, entry), sequence numbers increasing.
    entries: Vec<(u64, Entry)>,
    last_seq: u64,
}

impl EndpointDb {
    /// An empty database.
    pub fn new() -> Self {
        EndpointDb::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `ept_insert`: adds entries. With `replace`, entries with the same object, interface (UUID and
    /// major version), transfer syntax and protocol are replaced first. A tower without interface and
    /// transfer-syntax floors is `ept_s_invalid_entry`, and nothing is inserted.
    pub fn insert(&self, entries: Vec<Entry>, replace: bool) -> Result<(), EptError> {
        if entries
            .iter()
            .any(|e| e.tower.interface().is_none() || e.tower.transfer_syntax().is_none())
        {
            return Err(EptError::InvalidEntry);
        }
        let mut db = self.lock();
        if db.entries.len().saturating_add(entries.len()) > MAX_ENTRIES {
            return Err(EptError::CantPerformOp);
        }
        // Replacing drops the entries registered before this call in the same slots; the new
        // entries never replace one another (a server registers all its endpoints at once).
        if replace {
            db.entries
                .retain(|(_, old)| !entries.iter().any(|e| same_slot(old, e)));
        }
        for mut e in entries {
            truncate_annotation(&mut e.annotation);
            if !db.entries.iter().any(|(_, old)| *old == e) {
                db.last_seq += 1;
                let seq = db.last_seq;
                db.entries.push((seq, e));
            }
        }
        Ok(())
    }

    /// `ept_delete`: removes entries equal in object and tower. `ept_s_not_registered` if one of them
    /// is not there (the others are still removed).
    pub fn delete(&self, entries: &[Entry]) -> Result<(), EptError> {
        let mut db = self.lock();
        let mut missing = false;
        for e in entries {
            let before = db.entries.len();
            db.entries
                .retain(|(_, old)| !(old.object == e.object && old.tower == e.tower));
            missing |= db.entries.len() == before;
        }
        if missing {
            Err(EptError::NotRegistered)
        } else {
            Ok(())
        }
    }

    /// Removes every entry of one interface (a server unregistering at shutdown).
    pub fn delete_interface(&self, interface: &SyntaxId, object: Option<Uuid>) {
        self.lock().entries.retain(|(_, e)| {
            !(e.interface().as_ref() == Some(interface) && object.is_none_or(|o| o == e.object))
        });
    }

    /// Removes every entry whose tower equals `tower` (and whose object is `object`, when given):
    /// `ept_mgmt_delete`. `ept_s_not_registered` if none matched.
    pub fn delete_tower(&self, object: Option<Uuid>, tower: &Tower) -> Result<(), EptError> {
        let mut db = self.lock();
        let before = db.entries.len();
        db.entries
            .retain(|(_, e)| !(e.tower == *tower && object.is_none_or(|o| o == e.object)));
        if db.entries.len() == before {
            Err(EptError::NotRegistered)
        } else {
            Ok(())
        }
    }

    /// Removes exactly these entries, ignoring the ones already gone (a server unregistering).
    pub fn remove(&self, entries: &[Entry]) {
        self.lock().entries.retain(|(_, old)| {
            !entries
                .iter()
                .any(|e| e.object == old.object && e.tower == old.tower)
        });
    }

    /// `ept_lookup`: up to `max` entries matching, after cursor `after` (0: from the start).
    pub fn lookup(
        &self,
        inquiry: Inquiry,
        object: Option<Uuid>,
        interface: Option<SyntaxId>,
        vers: VersionOption,
        after: u64,
        max: usize,
    ) -> LookupPage {
        let db = self.lock();
        let want_if = matches!(inquiry, Inquiry::ByInterface | Inquiry::ByBoth);
        let want_obj = matches!(inquiry, Inquiry::ByObject | Inquiry::ByBoth);
        let matching = |e: &Entry| {
            let if_ok = !want_if
                || match (interface.as_ref(), e.interface()) {
                    (Some(asked), Some(have)) => vers.matches(asked, &have),
                    _ => false,
                };
            let obj_ok = !want_obj || object.is_some_and(|o| o == e.object);
            if_ok && obj_ok
        };
        let mut entries = Vec::new();
        let mut next = after;
        let mut rest = db
            .entries
            .iter()
            .filter(|(seq, e)| *seq > after && matching(e));
        for (seq, e) in rest.by_ref().take(max) {
            entries.push(e.clone());
            next = *seq;
        }
        let more = rest.next().is_some();
        LookupPage {
            entries,
            next,
            more,
        }
    }

    /// `ept_map`: the towers of the registered endpoints that serve `map_tower`'s interface (the DCE
    /// version rule), transfer syntax and protocol, for `object` (entries for that object first, then
    /// those registered for any object), from position `start`.
    ///
    /// `local_ip` fills a TCP tower whose IP floor is 0.0.0.0 (a server listening on every address)
    /// with the address the client reached the endpoint mapper on.
    pub fn map(
        &self,
        object: Option<Uuid>,
        map_tower: &Tower,
        local_ip: Option<Ipv4Addr>,
        start: usize,
        max: usize,
    ) -> (Vec<Tower>, Option<usize>) {
        let (Some(asked), Some(transfer)) = (map_tower.interface(), map_tower.transfer_syntax())
        else {
            return (Vec::new(), None);
        };
        let protocol = protocol_floors(map_tower);
        let object = object.unwrap_or_else(Uuid::nil);
        let db = self.lock();
        let serves = |e: &Entry| {
            e.interface().is_some_and(|have| asked.is_served_by(&have))
                && e.tower.transfer_syntax() == Some(transfer)
                && protocol_floors(&e.tower) == protocol
        };
        // The object's own entries first, then entries for any (nil) object.
        let mut candidates: Vec<&Entry> = db
            .entries
            .iter()
            .map(|(_, e)| e)
            .filter(|e| serves(e) && e.object == object)
            .collect();
        if !object.is_nil() {
            candidates.extend(
                db.entries
                    .iter()
                    .map(|(_, e)| e)
                    .filter(|e| serves(e) && e.object.is_nil()),
            );
        }
        let towers: Vec<Tower> = candidates
            .iter()
            .skip(start)
            .take(max)
            .map(|e| fill_ip(&e.tower, local_ip))
            .collect();
        let next = start + towers.len();
        (towers, (next < candidates.len()).then_some(next))
    }

    /// Every entry (for tools and tests).
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().entries.iter().map(|(_, e)| e.clone()).collect()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The protocol identifiers of floors 3 and up: what "the same protocol" means when mapping.
fn protocol_floors(t: &Tower) -> Vec<u8> {
    t.floors
        .iter()
        .skip(2)
        .filter_map(|f| f.protocol())
        .collect()
}

fn same_slot(a: &Entry, b: &Entry) -> bool {
    a.object == b.object
        && a.interface().map(|i| (i.uuid, i.major)) == b.interface().map(|i| (i.uuid, i.major))
        && a.tower.transfer_syntax() == b.tower.transfer_syntax()
        && protocol_floors(&a.tower) == protocol_floors(&b.tower)
}

fn fill_ip(t: &Tower, local_ip: Option<Ipv4Addr>) -> Tower {
    let mut t = t.clone();
    if let Some(ip) = local_ip {
        for f in &mut t.floors {
            if let Floor::Ip(a) = f
                && a.is_unspecified()
            {
                *a = ip;
            }
        }
    }
    t
}

fn truncate_annotation(s: &mut String) {
    while s.len() > MAX_ANNOTATION - 1 {
        s.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IF_A: SyntaxId = SyntaxId::new(uuid::uuid!("12345678-1234-abcd-ef00-0123456789ab"), 1, 2);
    const IF_B: SyntaxId = SyntaxId::new(uuid::uuid!("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3, 0);

    fn tcp(iface: SyntaxId, port: u16) -> Entry {
        Entry {
            object: Uuid::nil(),
            tower: Tower::ncacn_ip_tcp(iface, SyntaxId::NDR20, port, Ipv4Addr::UNSPECIFIED),
            annotation: format!("port {port}"),
        }
    }

    #[test]
    fn map_follows_the_version_rule_and_the_protocol() {
        let db = EndpointDb::new();
        db.insert(vec![tcp(IF_A, 1000), tcp(IF_B, 2000)], false)
            .unwrap();
        db.insert(
            vec![Entry {
                object: Uuid::nil(),
                tower: Tower::ncalrpc(IF_A, SyntaxId::NDR20, "a-local"),
                annotation: String::new(),
            }],
            false,
        )
        .unwrap();
        let ask = |v: SyntaxId| Tower::ncacn_ip_tcp(v, SyntaxId::NDR20, 0, Ipv4Addr::UNSPECIFIED);
        let local = Some(Ipv4Addr::LOCALHOST);
        let (t, more) = db.map(None, &ask(IF_A), local, 0, 10);
        assert_eq!(more, None);
        assert_eq!(t.len(), 1, "the ncalrpc entry is another protocol");
        assert_eq!(t[0].tcp_port(), Some(1000));
        assert_eq!(t[0].ip(), Some(Ipv4Addr::LOCALHOST));
        // A client asking 1.1 is served by 1.2; 1.3 and 2.0 are not.
        assert_eq!(
            db.map(None, &ask(SyntaxId::new(IF_A.uuid, 1, 1)), local, 0, 10)
                .0
                .len(),
            1
        );
        assert!(
            db.map(None, &ask(SyntaxId::new(IF_A.uuid, 1, 3)), local, 0, 10)
                .0
                .is_empty()
        );
        assert!(
            db.map(None, &ask(SyntaxId::new(IF_A.uuid, 2, 0)), local, 0, 10)
                .0
                .is_empty()
        );
        // Another transfer syntax is not served.
        let ndr64 = Tower::ncacn_ip_tcp(IF_A, SyntaxId::NDR64, 0, Ipv4Addr::UNSPECIFIED);
        assert!(db.map(None, &ndr64, local, 0, 10).0.is_empty());
    }

    #[test]
    fn lookup_pages_through_matching_entries() {
        let db = EndpointDb::new();
        let entries: Vec<Entry> = (0..10)
            .map(|i| tcp(if i % 2 == 0 { IF_A } else { IF_B }, 1000 + i))
            .collect();
        db.insert(entries, false).unwrap();
        let all = |after, max| db.lookup(Inquiry::All, None, None, VersionOption::All, after, max);
        let p1 = all(0, 4);
        assert_eq!((p1.entries.len(), p1.more), (4, true));
        let p2 = all(p1.next, 4);
        assert_eq!((p2.entries.len(), p2.more), (4, true));
        let p3 = all(p2.next, 4);
        assert_eq!((p3.entries.len(), p3.more), (2, false));
        let p4 = all(p3.next, 4);
        assert!(p4.entries.is_empty() && !p4.more);
        let ports: Vec<_> = [p1, p2, p3]
            .iter()
            .flat_map(|p| p.entries.iter().map(|e| e.tower.tcp_port().unwrap()))
            .collect();
        assert_eq!(ports, (1000..1010).collect::<Vec<_>>());
        let by_if = |v: SyntaxId, o| db.lookup(Inquiry::ByInterface, None, Some(v), o, 0, 100);
        let only_a = by_if(IF_A, VersionOption::Exact).entries;
        assert_eq!(only_a.len(), 5);
        assert!(only_a.iter().all(|e| e.tower.interface() == Some(IF_A)));
        let v13 = SyntaxId::new(IF_A.uuid, 1, 3);
        assert!(by_if(v13, VersionOption::Compatible).entries.is_empty());
        assert_eq!(by_if(v13, VersionOption::UpTo).entries.len(), 5);
        assert_eq!(by_if(v13, VersionOption::MajorOnly).entries.len(), 5);
        assert_eq!(by_if(v13, VersionOption::All).entries.len(), 5);
        assert!(
            by_if(SyntaxId::new(IF_A.uuid, 1, 1), VersionOption::UpTo)
                .entries
                .is_empty()
        );
        assert_eq!(
            by_if(SyntaxId::new(IF_A.uuid, 1, 1), VersionOption::Compatible)
                .entries
                .len(),
            5
        );
        assert!(
            by_if(SyntaxId::new(IF_A.uuid, 2, 0), VersionOption::MajorOnly)
                .entries
                .is_empty()
        );
    }

    #[test]
    fn lookup_by_object_and_both() {
        let db = EndpointDb::new();
        let obj = uuid::uuid!("11111111-2222-3333-4444-555555555555");
        let mut e = tcp(IF_A, 7);
        e.object = obj;
        db.insert(vec![e, tcp(IF_A, 8), tcp(IF_B, 9)], false)
            .unwrap();
        let p = db.lookup(
            Inquiry::ByObject,
            Some(obj),
            None,
            VersionOption::All,
            0,
            10,
        );
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].tower.tcp_port(), Some(7));
        let p = db.lookup(
            Inquiry::ByBoth,
            Some(obj),
            Some(IF_B),
            VersionOption::All,
            0,
            10,
        );
        assert!(p.entries.is_empty());
        let p = db.lookup(
            Inquiry::ByBoth,
            Some(obj),
            Some(IF_A),
            VersionOption::All,
            0,
            10,
        );
        assert_eq!(p.entries.len(), 1);
    }

    #[test]
    fn cursor_survives_deletes_between_pages() {
        let db = EndpointDb::new();
        db.insert((0..6).map(|i| tcp(IF_A, 100 + i)).collect(), false)
            .unwrap();
        let p1 = db.lookup(Inquiry::All, None, None, VersionOption::All, 0, 3);
        // Entries already returned disappear; the cursor still continues at port 103.
        db.delete(&[tcp(IF_A, 100), tcp(IF_A, 101)]).unwrap();
        let p2 = db.lookup(Inquiry::All, None, None, VersionOption::All, p1.next, 3);
        let ports: Vec<_> = p2
            .entries
            .iter()
            .map(|e| e.tower.tcp_port().unwrap())
            .collect();
        assert_eq!(ports, vec![103, 104, 105]);
    }

    #[test]
    fn insert_is_bounded() {
        let db = EndpointDb::new();
        let many: Vec<Entry> = (0..MAX_ENTRIES as u16 + 1).map(|i| tcp(IF_A, i)).collect();
        assert_eq!(db.insert(many, false), Err(EptError::CantPerformOp));
        assert!(db.is_empty());
    }

    #[test]
    fn insert_replace_and_delete() {
        let db = EndpointDb::new();
        db.insert(vec![tcp(IF_A, 1000)], false).unwrap();
        db.insert(vec![tcp(IF_A, 1001)], true).unwrap();
        assert_eq!(
            db.entries().len(),
            1,
            "replace drops the old endpoint of the same slot"
        );
        assert_eq!(db.entries()[0].tower.tcp_port(), Some(1001));
        // One call's entries do not replace one another.
        db.insert(vec![tcp(IF_A, 1002), tcp(IF_A, 1003)], true)
            .unwrap();
        let ports: Vec<_> = db.entries().iter().map(|e| e.tower.tcp_port()).collect();
        assert_eq!(ports, vec![Some(1002), Some(1003)]);
        db.insert(vec![tcp(IF_A, 1001)], true).unwrap();
        assert_eq!(db.delete(&[tcp(IF_A, 1000)]), Err(EptError::NotRegistered));
        assert_eq!(db.delete(&[tcp(IF_A, 1001)]), Ok(()));
        assert!(db.entries().is_empty());
        let bad = Entry {
            object: Uuid::nil(),
            tower: Tower::default(),
            annotation: String::new(),
        };
        assert_eq!(db.insert(vec![bad], false), Err(EptError::InvalidEntry));
    }

    #[test]
    fn ept_errors_map_to_the_wire_and_win32_statuses() {
        for (e, code, win32) in [
            (EptError::NotRegistered, EPT_S_NOT_REGISTERED, 1753),
            (EptError::InvalidEntry, EPT_S_INVALID_ENTRY, 1751),
            (EptError::CantPerformOp, EPT_S_CANT_PERFORM_OP, 1752),
        ] {
            assert_eq!(e.code(), code);
            assert_eq!(EptError::from_code(code), Some(e));
            assert_eq!(e.status(), Win32Status(win32));
            let err = crate::Error::from(e);
            assert_eq!(err.status(), Win32Status(win32));
            assert!(err.to_string().starts_with(&e.to_string()), "{err}");
        }
        assert_eq!(EptError::from_code(0), None);
        assert_eq!(
            EptError::NotRegistered.to_string(),
            "no entry of the endpoint map matches"
        );
    }
}
