//! Test types written by hand the way msrpc-idl generates them.
#![allow(dead_code, unreachable_pub, missing_docs)]

use msrpc_ndr::{
    ConformantArray, ConformantVaryingArray, Decoder, Encoder, ErrorKind, Full, NdrConformant,
    NdrConformantDecode, NdrDecode, NdrEncode, NdrType, Ref, Result, Syntax, Unique, WideString,
};

// ---------------------------------------------------------------- srvsvc

/// `srvsvc_NetSrvInfo101`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetSrvInfo101 {
    pub platform_id: u32,
    pub server_name: Unique<WideString>,
    pub version_major: u32,
    pub version_minor: u32,
    pub server_type: u32,
    pub comment: Unique<WideString>,
}

impl NdrType for NetSrvInfo101 {
    fn align(s: Syntax) -> usize {
        u32::align(s).max(Unique::<WideString>::align(s))
    }
}

impl NdrEncode for NetSrvInfo101 {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        e.write_v1_enum(self.platform_id);
        self.server_name.encode_head(e)?;
        self.version_major.encode_head(e)?;
        self.version_minor.encode_head(e)?;
        self.server_type.encode_head(e)?;
        self.comment.encode_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.server_name.encode_deferred(e)?;
        self.comment.encode_deferred(e)
    }
}

impl NdrDecode for NetSrvInfo101 {
    type Head = (u32, bool, u32, u32, u32, bool);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("NetSrvInfo101")?;
        d.align(Self::align(d.syntax()))?;
        let platform_id = d.field("platform_id", |d| d.read_v1_enum())?;
        let server_name = d.field("server_name", |d| Unique::<WideString>::decode_head(d))?;
        let version_major = d.field("version_major", |d| u32::decode_head(d))?;
        let version_minor = d.field("version_minor", |d| u32::decode_head(d))?;
        let server_type = d.field("server_type", |d| u32::decode_head(d))?;
        let comment = d.field("comment", |d| Unique::<WideString>::decode_head(d))?;
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok((
            platform_id,
            server_name,
            version_major,
            version_minor,
            server_type,
            comment,
        ))
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("NetSrvInfo101")?;
        let server_name = d.field("server_name", |d| Unique::decode_deferred(h.1, d))?;
        let comment = d.field("comment", |d| Unique::decode_deferred(h.5, d))?;
        d.leave();
        Ok(NetSrvInfo101 {
            platform_id: h.0,
            server_name,
            version_major: h.2,
            version_minor: h.3,
            server_type: h.4,
            comment,
        })
    }
}

/// `srvsvc_NetSrvInfo102`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetSrvInfo102 {
    pub platform_id: u32,
    pub server_name: Unique<WideString>,
    pub version_major: u32,
    pub version_minor: u32,
    pub server_type: u32,
    pub comment: Unique<WideString>,
    pub users: u32,
    pub disc: u32,
    pub hidden: u32,
    pub announce: u32,
    pub anndelta: u32,
    pub licenses: u32,
    pub userpath: Unique<WideString>,
}

impl NdrType for NetSrvInfo102 {
    fn align(s: Syntax) -> usize {
        u32::align(s).max(Unique::<WideString>::align(s))
    }
}

impl NdrEncode for NetSrvInfo102 {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        e.write_v1_enum(self.platform_id);
        self.server_name.encode_head(e)?;
        self.version_major.encode_head(e)?;
        self.version_minor.encode_head(e)?;
        self.server_type.encode_head(e)?;
        self.comment.encode_head(e)?;
        self.users.encode_head(e)?;
        self.disc.encode_head(e)?;
        self.hidden.encode_head(e)?;
        self.announce.encode_head(e)?;
        self.anndelta.encode_head(e)?;
        self.licenses.encode_head(e)?;
        self.userpath.encode_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.server_name.encode_deferred(e)?;
        self.comment.encode_deferred(e)?;
        self.userpath.encode_deferred(e)
    }
}

pub struct NetSrvInfo102Head {
    v: NetSrvInfo102,
    ptrs: [bool; 3],
}

impl NdrDecode for NetSrvInfo102 {
    type Head = NetSrvInfo102Head;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("NetSrvInfo102")?;
        d.align(Self::align(d.syntax()))?;
        let mut v = NetSrvInfo102 {
            platform_id: d.field("platform_id", |d| d.read_v1_enum())?,
            ..Default::default()
        };
        let p0 = d.field("server_name", |d| Unique::<WideString>::decode_head(d))?;
        v.version_major = d.field("version_major", |d| u32::decode_head(d))?;
        v.version_minor = d.field("version_minor", |d| u32::decode_head(d))?;
        v.server_type = d.field("server_type", |d| u32::decode_head(d))?;
        let p1 = d.field("comment", |d| Unique::<WideString>::decode_head(d))?;
        v.users = d.field("users", |d| u32::decode_head(d))?;
        v.disc = d.field("disc", |d| u32::decode_head(d))?;
        v.hidden = d.field("hidden", |d| u32::decode_head(d))?;
        v.announce = d.field("announce", |d| u32::decode_head(d))?;
        v.anndelta = d.field("anndelta", |d| u32::decode_head(d))?;
        v.licenses = d.field("licenses", |d| u32::decode_head(d))?;
        let p2 = d.field("userpath", |d| Unique::<WideString>::decode_head(d))?;
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok(NetSrvInfo102Head {
            v,
            ptrs: [p0, p1, p2],
        })
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        let mut v = h.v;
        d.enter("NetSrvInfo102")?;
        v.server_name = d.field("server_name", |d| Unique::decode_deferred(h.ptrs[0], d))?;
        v.comment = d.field("comment", |d| Unique::decode_deferred(h.ptrs[1], d))?;
        v.userpath = d.field("userpath", |d| Unique::decode_deferred(h.ptrs[2], d))?;
        d.leave();
        Ok(v)
    }
}

/// `srvsvc_NetSrvInfo` (non-encapsulated, switch_type uint32), the arms we need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetSrvInfo {
    Info101(Unique<NetSrvInfo101>),
    Info102(Unique<NetSrvInfo102>),
}

impl NetSrvInfo {
    pub fn level(&self) -> u32 {
        match self {
            NetSrvInfo::Info101(_) => 101,
            NetSrvInfo::Info102(_) => 102,
        }
    }
}

pub enum NetSrvInfoHead {
    Info101(bool),
    Info102(bool),
}

impl NdrType for NetSrvInfo {
    fn align(s: Syntax) -> usize {
        u32::align(s).max(Unique::<NetSrvInfo101>::align(s))
    }
}

impl NdrEncode for NetSrvInfo {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let a = Self::align(e.syntax());
        e.align_ndr64(a);
        e.write_u32(self.level());
        e.align_ndr64(a);
        match self {
            NetSrvInfo::Info101(p) => p.encode_head(e),
            NetSrvInfo::Info102(p) => p.encode_head(e),
        }
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        match self {
            NetSrvInfo::Info101(p) => p.encode_deferred(e),
            NetSrvInfo::Info102(p) => p.encode_deferred(e),
        }
    }
}

impl NdrDecode for NetSrvInfo {
    type Head = NetSrvInfoHead;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("NetSrvInfo")?;
        let a = Self::align(d.syntax());
        d.align_ndr64(a)?;
        let level = d.read_u32()?;
        d.align_ndr64(a)?;
        let h = match level {
            101 => NetSrvInfoHead::Info101(
                d.field("info101", |d| Unique::<NetSrvInfo101>::decode_head(d))?,
            ),
            102 => NetSrvInfoHead::Info102(
                d.field("info102", |d| Unique::<NetSrvInfo102>::decode_head(d))?,
            ),
            other => return Err(d.error(ErrorKind::BadSwitch(u64::from(other)))),
        };
        d.leave();
        Ok(h)
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("NetSrvInfo")?;
        let v = match h {
            NetSrvInfoHead::Info101(p) => {
                NetSrvInfo::Info101(d.field("info101", |d| Unique::decode_deferred(p, d))?)
            }
            NetSrvInfoHead::Info102(p) => {
                NetSrvInfo::Info102(d.field("info102", |d| Unique::decode_deferred(p, d))?)
            }
        };
        d.leave();
        Ok(v)
    }
}

// ---------------------------------------------------------------- lsa

/// `lsa_String` / `lsa_StringLarge`: counted UTF-16 without terminator.
/// `LARGE` selects StringLarge (size = length + 2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LsaString<const LARGE: bool> {
    pub length: u16,
    pub size: u16,
    pub string: Unique<ConformantVaryingArray<u16>>,
}

impl<const LARGE: bool> LsaString<LARGE> {
    pub fn new(s: Option<&str>) -> Self {
        match s {
            None => LsaString {
                length: 0,
                size: 0,
                string: Unique::null(),
            },
            Some(s) => {
                let units: Vec<u16> = s.encode_utf16().collect();
                let length = (units.len() * 2) as u16;
                let size = if LARGE { length + 2 } else { length };
                let mut a = ConformantVaryingArray::new(units);
                a.max_count = u64::from(size / 2);
                LsaString {
                    length,
                    size,
                    string: Unique::new(a),
                }
            }
        }
    }
}

impl<const LARGE: bool> NdrType for LsaString<LARGE> {
    fn align(s: Syntax) -> usize {
        u16::align(s).max(Unique::<ConformantVaryingArray<u16>>::align(s))
    }
}

impl<const LARGE: bool> NdrEncode for LsaString<LARGE> {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        self.length.encode_head(e)?;
        self.size.encode_head(e)?;
        self.string.encode_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.string.encode_deferred(e)
    }
}

impl<const LARGE: bool> NdrDecode for LsaString<LARGE> {
    type Head = (u16, u16, bool);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("lsa_String")?;
        d.align(Self::align(d.syntax()))?;
        let length = d.field("length", |d| u16::decode_head(d))?;
        let size = d.field("size", |d| u16::decode_head(d))?;
        let p = d.field("string", |d| {
            Unique::<ConformantVaryingArray<u16>>::decode_head(d)
        })?;
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok((length, size, p))
    }
    fn decode_deferred((length, size, p): Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("lsa_String")?;
        let string = d.field("string", |d| {
            let s = Unique::<ConformantVaryingArray<u16>>::decode_deferred(p, d)?;
            if let Some(a) = s.as_ref() {
                d.check_size(a.max_count, u64::from(size / 2))?;
                d.check_size(a.items.len() as u64, u64::from(length / 2))?;
            }
            Ok(s)
        })?;
        d.leave();
        Ok(LsaString {
            length,
            size,
            string,
        })
    }
}

// ---------------------------------------------------------------- synthetic

/// A conformant structure with an embedded [ref] pointer, a [unique] pointer and a
/// conformant array:
/// `struct { hyper id; [ref] long *r; [unique, string] wchar_t *name; small tag; long count;
///           [size_is(count)] short values[]; }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conf {
    pub id: u64,
    pub r: Ref<i32>,
    pub name: Unique<WideString>,
    pub tag: i8,
    pub count: u32,
    pub values: ConformantArray<i16>,
}

impl NdrType for Conf {
    fn align(s: Syntax) -> usize {
        8usize
            .max(Ref::<i32>::align(s))
            .max(ConformantArray::<i16>::align(s))
    }
}

impl NdrEncode for Conf {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_conformance(self.values.max_count())?;
        e.align(Self::align(e.syntax()));
        self.id.encode_head(e)?;
        self.r.encode_head(e)?;
        self.name.encode_head(e)?;
        self.tag.encode_head(e)?;
        self.count.encode_head(e)?;
        self.values.encode_body_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.r.encode_deferred(e)?;
        self.name.encode_deferred(e)?;
        self.values.encode_deferred(e)
    }
}

impl NdrConformant for Conf {
    fn max_count(&self) -> u64 {
        self.values.max_count()
    }
    fn encode_body_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        self.id.encode_head(e)?;
        self.r.encode_head(e)?;
        self.name.encode_head(e)?;
        self.tag.encode_head(e)?;
        self.count.encode_head(e)?;
        self.values.encode_body_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
}

impl NdrDecode for Conf {
    type Head = (u64, u64, bool, i8, u32, Vec<i16>);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        let max = d.read_conformance()?;
        Self::decode_body_head(d, max)
    }
    fn decode_deferred(h: Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("Conf")?;
        let r = d.field("r", |d| Ref::decode_deferred(h.1, d))?;
        let name = d.field("name", |d| Unique::decode_deferred(h.2, d))?;
        let values = d.field("values", |d| ConformantArray::decode_deferred(h.5, d))?;
        d.leave();
        Ok(Conf {
            id: h.0,
            r,
            name,
            tag: h.3,
            count: h.4,
            values,
        })
    }
}

impl NdrConformantDecode for Conf {
    fn decode_body_head(d: &mut Decoder<'_>, max: u64) -> Result<Self::Head> {
        d.enter("Conf")?;
        d.align(Self::align(d.syntax()))?;
        let id = d.field("id", |d| u64::decode_head(d))?;
        let r = d.field("r", |d| Ref::<i32>::decode_head(d))?;
        let name = d.field("name", |d| Unique::<WideString>::decode_head(d))?;
        let tag = d.field("tag", |d| i8::decode_head(d))?;
        let count = d.field("count", |d| u32::decode_head(d))?;
        let values = d.field("values", |d| {
            d.check_size(max, u64::from(count))?;
            ConformantArray::<i16>::decode_body_head(d, max)
        })?;
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok((id, r, name, tag, count, values))
    }
}

/// Two full pointers that may alias: `struct { [ptr] long *a; [ptr] long *b; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub a: Full<u32>,
    pub b: Full<u32>,
}

impl NdrType for Pair {
    fn align(s: Syntax) -> usize {
        Full::<u32>::align(s)
    }
}

impl NdrEncode for Pair {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        self.a.encode_head(e)?;
        self.b.encode_head(e)
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.a.encode_deferred(e)?;
        self.b.encode_deferred(e)
    }
}

impl NdrDecode for Pair {
    type Head = ((u64, u64), (u64, u64));
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("Pair")?;
        d.align(Self::align(d.syntax()))?;
        let a = d.field("a", |d| Full::<u32>::decode_head(d))?;
        let b = d.field("b", |d| Full::<u32>::decode_head(d))?;
        d.leave();
        Ok((a, b))
    }
    fn decode_deferred((a, b): Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("Pair")?;
        let a = d.field("a", |d| Full::decode_deferred(a, d))?;
        let b = d.field("b", |d| Full::decode_deferred(b, d))?;
        d.leave();
        Ok(Pair { a, b })
    }
}

/// A linked list node: `struct Node { long v; [unique] struct Node *next; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub v: u32,
    pub next: Unique<Node>,
}

impl NdrType for Node {
    fn align(s: Syntax) -> usize {
        4usize.max(s.pointer_size())
    }
}

impl NdrEncode for Node {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.align(Self::align(e.syntax()));
        self.v.encode_head(e)?;
        self.next.encode_head(e)?;
        e.align_ndr64(Self::align(e.syntax()));
        Ok(())
    }
    fn encode_deferred(&self, e: &mut Encoder) -> Result<()> {
        self.next.encode_deferred(e)
    }
}

impl NdrDecode for Node {
    type Head = (u32, bool);
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self::Head> {
        d.enter("Node")?;
        d.align(Self::align(d.syntax()))?;
        let v = u32::decode_head(d)?;
        let next = Unique::<Node>::decode_head(d)?;
        d.align_ndr64(Self::align(d.syntax()))?;
        d.leave();
        Ok((v, next))
    }
    fn decode_deferred((v, next): Self::Head, d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("Node")?;
        let next = d.field("next", |d| Unique::decode_deferred(next, d))?;
        d.leave();
        Ok(Node { v, next })
    }
}

/// An encapsulated union with a `[default]` arm that carries data:
/// `union switch (short kind) u { case 1: long a; case 2: hyper b; default: small c; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enc {
    A(i32),
    B(i64),
    Other(u16, i8),
}

impl Enc {
    fn kind(&self) -> u16 {
        match self {
            Enc::A(_) => 1,
            Enc::B(_) => 2,
            Enc::Other(k, _) => *k,
        }
    }
    fn arm_align(s: Syntax) -> usize {
        i32::align(s).max(i64::align(s)).max(i8::align(s))
    }
}

impl NdrType for Enc {
    fn align(s: Syntax) -> usize {
        u16::align(s).max(Self::arm_align(s))
    }
}

impl NdrEncode for Enc {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        let s = e.syntax();
        e.align(Self::align(s));
        e.write_u16(self.kind());
        e.align(Self::arm_align(s));
        match self {
            Enc::A(v) => v.encode_head(e)?,
            Enc::B(v) => v.encode_head(e)?,
            Enc::Other(_, v) => v.encode_head(e)?,
        }
        e.align_ndr64(Self::align(s));
        Ok(())
    }
}

impl NdrDecode for Enc {
    type Head = Self;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("Enc")?;
        let s = d.syntax();
        d.align(Self::align(s))?;
        let kind = d.field("kind", |d| d.read_u16())?;
        d.align(Self::arm_align(s))?;
        let v = match kind {
            1 => Enc::A(d.field("a", |d| i32::decode_head(d))?),
            2 => Enc::B(d.field("b", |d| i64::decode_head(d))?),
            k => Enc::Other(k, d.field("c", |d| i8::decode_head(d))?),
        };
        d.align_ndr64(Self::align(s))?;
        d.leave();
        Ok(v)
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}

/// `struct { [range(1, 10)] unsigned long n; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranged {
    pub n: u32,
}

impl NdrType for Ranged {
    fn align(_: Syntax) -> usize {
        4
    }
}

impl NdrEncode for Ranged {
    fn encode_head(&self, e: &mut Encoder) -> Result<()> {
        e.write_u32(self.n);
        Ok(())
    }
}

impl NdrDecode for Ranged {
    type Head = Self;
    fn decode_head(d: &mut Decoder<'_>) -> Result<Self> {
        d.enter("Ranged")?;
        let n = d.field("n", |d| {
            let n = d.read_u32()?;
            d.check_range(u64::from(n), 1, 10)?;
            Ok(n)
        })?;
        d.leave();
        Ok(Ranged { n })
    }
    fn decode_deferred(head: Self, _: &mut Decoder<'_>) -> Result<Self> {
        Ok(head)
    }
}
