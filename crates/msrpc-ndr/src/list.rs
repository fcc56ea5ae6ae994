//! Linked lists: structures with one `[unique]` pointer to their own type
//! (`struct node { ...; [unique] struct node *next; }`), handled without recursion.
//!
//! A list's length is not nesting. Decoded recursively, a 100 000-node list would need one
//! stack frame per node (or be cut off by [`DecodeLimits::max_depth`](crate::DecodeLimits)), and
//! the derived `Drop`, `Clone`, `PartialEq` and `Debug` of a `Box` chain recurse once per node
//! too. For such a structure the IDL compiler emits [`Linked`], [`LinkedEncode`] and
//! [`LinkedDecode`] and implements those four traits, and `encode_deferred` / `decode_deferred`,
//! with the loops here. Their length is bounded by
//! [`DecodeLimits::max_pointees`](crate::DecodeLimits::max_pointees) (each node is one pointee)
//! and [`DecodeLimits::max_bytes`](crate::DecodeLimits::max_bytes) instead.
//!
//! Wire order is unchanged: a node's deferred part is the pointees of its members before `next`,
//! then the next node (head, then its own deferred part), then the pointees of its members after
//! `next`. The loops keep the nodes whose "after" part is still due on a heap stack.
//!
//! Only a direct `[unique]` self-pointer makes a list; other recursive shapes (trees, mutual
//! recursion, full-pointer chains) stay recursive and are bounded by `max_depth`.

use std::fmt;

use crate::decode::Decoder;
use crate::encode::Encoder;
use crate::error::Result;
use crate::pointer::Unique;
use crate::traits::{NdrDecode, NdrEncode};

/// A structure with one `[unique]` pointer to its own type: a node of a linked list.
///
/// The provided functions of this module ([`drop`], [`clone`], [`eq`], [`fmt()`]) walk the chain
/// in a loop; generated code implements `Drop`, `Clone`, `PartialEq` and `Debug` with them.
pub trait Linked: Sized {
    /// The link to the next node.
    fn link(&self) -> &Unique<Self>;

    /// The link to the next node, mutably.
    fn link_mut(&mut self) -> &mut Unique<Self>;

    /// A copy of this node's members with a null link.
    fn clone_node(&self) -> Self;

    /// Compares this node's members, except the link.
    fn eq_node(&self, other: &Self) -> bool;

    /// Formats this node's members, except the link.
    fn fmt_node(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;

    /// The nodes from this one to the end of the list.
    fn iter(&self) -> Iter<'_, Self> {
        Iter { next: Some(self) }
    }
}

/// The nodes of a list, from [`Linked::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    next: Option<&'a T>,
}

impl<'a, T: Linked> Iterator for Iter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        let n = self.next?;
        self.next = n.link().as_ref();
        Some(n)
    }
}

/// `Drop::drop` for a list node: unlinks the chain first, so no node's drop recurses.
pub fn drop<T: Linked>(node: &mut T) {
    let mut next = node.link_mut().0.take();
    while let Some(mut n) = next {
        next = n.link_mut().0.take();
    }
}

/// `Clone::clone` for a list node: copies the nodes front to back, links them back to front.
pub fn clone<T: Linked>(node: &T) -> T {
    let mut copies: Vec<T> = node.iter().skip(1).map(T::clone_node).collect();
    let mut next = Unique::null();
    while let Some(mut n) = copies.pop() {
        *n.link_mut() = next;
        next = Unique::new(n);
    }
    let mut first = node.clone_node();
    *first.link_mut() = next;
    first
}

/// `PartialEq::eq` for a list node: the same members node by node, and the same length.
pub fn eq<T: Linked>(a: &T, b: &T) -> bool {
    let (mut a, mut b) = (a.iter(), b.iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_node(y) => {}
            _ => return false,
        }
    }
}

/// `Debug::fmt` for a list node: the nodes as a list, each without its link.
pub fn fmt<T: Linked>(node: &T, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    struct Node<'a, T>(&'a T);
    impl<T: Linked> fmt::Debug for Node<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt_node(f)
        }
    }
    f.debug_list().entries(node.iter().map(Node)).finish()
}

/// The encoding half of a list node: its deferred part split around the link.
pub trait LinkedEncode: Linked + NdrEncode {
    /// Writes the pointees of the members before the link.
    fn encode_before_link(&self, e: &mut Encoder) -> Result<()>;

    /// Writes the pointees of the members after the link.
    fn encode_after_link(&self, e: &mut Encoder) -> Result<()>;
}

/// `NdrEncode::encode_deferred` for a list node, in a loop.
pub fn encode_deferred<T: LinkedEncode>(node: &T, e: &mut Encoder) -> Result<()> {
    let mut pending: Vec<&T> = Vec::new();
    let mut cur = node;
    loop {
        cur.encode_before_link(e)?;
        pending.push(cur);
        match cur.link().as_ref() {
            Some(next) => {
                next.encode_head(e)?;
                cur = next;
            }
            None => break,
        }
    }
    while let Some(n) = pending.pop() {
        n.encode_after_link(e)?;
    }
    Ok(())
}

/// The decoding half of a list node: its deferred part split around the link.
pub trait LinkedDecode: Linked + NdrDecode {
    /// What is known of a node between the two halves: its members before the link, and the
    /// heads of those after it.
    type Partial;

    /// Reads the pointees of the members before the link. Returns the partial node and whether
    /// the link is non-null.
    fn decode_before_link(head: Self::Head, d: &mut Decoder<'_>) -> Result<(Self::Partial, bool)>;

    /// Reads the pointees of the members after the link and completes the node with `link`.
    fn decode_after_link(
        partial: Self::Partial,
        link: Unique<Self>,
        d: &mut Decoder<'_>,
    ) -> Result<Self>;
}

/// `NdrDecode::decode_deferred` for a list node, in a loop. Each further node counts as one
/// pointee ([`Decoder::pointee`]); the nesting depth does not grow along the list.
pub fn decode_deferred<T: LinkedDecode>(head: T::Head, d: &mut Decoder<'_>) -> Result<T> {
    let (first, mut more) = T::decode_before_link(head, d)?;
    let mut rest: Vec<T::Partial> = Vec::new();
    while more {
        d.pointee::<T>()?;
        let head = d.field("next", |d| T::decode_head(d))?;
        let (partial, m) = T::decode_before_link(head, d)?;
        rest.push(partial);
        more = m;
    }
    let mut link = Unique::null();
    while let Some(partial) = rest.pop() {
        link = Unique::new(T::decode_after_link(partial, link, d)?);
    }
    T::decode_after_link(first, link, d)
}
