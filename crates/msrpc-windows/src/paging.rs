//! Enumerations that follow a resume handle: [`Paged`], a [`Stream`] of entries fetched a page
//! at a time.
//!
//! Windows' enumeration calls (NetrShareEnum, SamrEnumerateUsersInDomain,
//! REnumServicesStatusW, ...) return one page of entries and a cursor (a resume handle or an
//! enumeration context) to pass to the next call, until the server says there is no more. A
//! [`Paged`] makes those calls lazily, one page whenever its buffered entries run out, so a
//! caller can stop early or show progress, and bounds the number of calls so that a server that
//! keeps saying "more" cannot keep it looping.
//!
//! ```no_run
//! # async fn f(mut users: msrpc_windows::Paged<'_, u32, String>) -> msrpc_windows::Result<()> {
//! // `users` from `SamDomain::enumerate_users()` (samr), say, or `srvsvc::enumerate_shares(&b)`.
//! while let Some(user) = users.try_next().await? {
//!     println!("{user}");
//! }
//! # Ok(()) }
//! ```

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pub use futures_core::Stream;

use crate::{Error, Result};

/// The most calls one enumeration makes unless [`Paged::max_pages`] says otherwise.
pub const DEFAULT_MAX_PAGES: usize = 65_536;

/// One page of an enumeration: its entries and the cursor for the next call (`None` when the
/// server said this was the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<C, T> {
    /// The entries of this page, in the server's order.
    pub items: Vec<T>,
    /// The resume handle or enumeration context to send next, or `None` at the end.
    pub next: Option<C>,
}

type PageFuture<'a, C, T> = Pin<Box<dyn Future<Output = Result<Page<C, T>>> + Send + 'a>>;
type Fetch<'a, C, T> = Box<dyn FnMut(C) -> PageFuture<'a, C, T> + Send + 'a>;

enum State<'a, C, T> {
    /// The next call has not started; it will send this cursor.
    Ready(C),
    /// The call for the next page is in flight.
    Fetching(PageFuture<'a, C, T>),
    /// The server sent its last page, or a call failed.
    Done,
}

/// An enumeration that calls the server one page at a time, following the cursor each reply
/// carries. It is a [`Stream`] of `Result<T>` (use it with `futures`' `StreamExt` or
/// `TryStreamExt`), and [`try_next`](Paged::try_next), [`next_page`](Paged::next_page) and
/// [`collect`](Paged::collect) need no other crate.
///
/// After an error, or after the last page, it yields nothing more.
pub struct Paged<'a, C, T> {
    op: &'static str,
    fetch: Fetch<'a, C, T>,
    state: State<'a, C, T>,
    buffered: std::vec::IntoIter<T>,
    pages: usize,
    max_pages: usize,
    count: usize,
}

impl<C, T> std::fmt::Debug for Paged<'_, C, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paged")
            .field("op", &self.op)
            .field("pages", &self.pages)
            .field("count", &self.count)
            .field("done", &matches!(self.state, State::Done))
            .finish_non_exhaustive()
    }
}

impl<'a, C: Send + 'a, T: Send + 'a> Paged<'a, C, T> {
    /// An enumeration of `op` (the operation's name, for errors) whose first call sends `first`
    /// and each later call the cursor of the page before.
    pub fn new<F, Fut>(op: &'static str, first: C, mut fetch: F) -> Self
    where
        F: FnMut(C) -> Fut + Send + 'a,
        Fut: Future<Output = Result<Page<C, T>>> + Send + 'a,
    {
        Paged {
            op,
            fetch: Box::new(move |c| Box::pin(fetch(c))),
            state: State::Ready(first),
            buffered: Vec::new().into_iter(),
            pages: 0,
            max_pages: DEFAULT_MAX_PAGES,
            count: 0,
        }
    }
}

impl<C, T> Paged<'_, C, T> {
    /// Sets the most calls this enumeration makes (default [`DEFAULT_MAX_PAGES`]); past it, the
    /// enumeration ends with [`Error::Reply`] instead of calling again.
    pub fn max_pages(mut self, n: usize) -> Self {
        self.max_pages = n;
        self
    }

    /// The calls made so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// The entries received so far (yielded or still buffered).
    pub fn count(&self) -> usize {
        self.count
    }

    /// Polls for the next page, skipping nothing: the entries still buffered from the page
    /// before come first, as one page.
    fn poll_page(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Vec<T>>>> {
        if self.buffered.len() > 0 {
            return Poll::Ready(Some(Ok(std::mem::take(&mut self.buffered).collect())));
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Ready(cursor) => {
                    if self.pages >= self.max_pages {
                        return Poll::Ready(Some(Err(Error::Reply {
                            op: self.op,
                            what: format!("more than {} pages", self.max_pages),
                        })));
                    }
                    self.pages += 1;
                    self.state = State::Fetching((self.fetch)(cursor));
                }
                State::Fetching(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Pending => {
                        self.state = State::Fetching(fut);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(page)) => {
                        self.count += page.items.len();
                        if let Some(next) = page.next {
                            self.state = State::Ready(next);
                        }
                        return Poll::Ready(Some(Ok(page.items)));
                    }
                },
            }
        }
    }

    /// The next page's entries (the server's page, possibly empty), or `None` after the last.
    pub async fn next_page(&mut self) -> Option<Result<Vec<T>>> {
        poll_fn(|cx| self.poll_page(cx)).await
    }

    /// The next entry, or `Ok(None)` after the last (as `TryStreamExt::try_next`).
    pub async fn try_next(&mut self) -> Result<Option<T>> {
        loop {
            if let Some(item) = self.buffered.next() {
                return Ok(Some(item));
            }
            match self.next_page().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e),
                Some(Ok(items)) => self.buffered = items.into_iter(),
            }
        }
    }

    /// Every remaining entry; `progress` gets the count received so far after each page.
    pub async fn collect(mut self, progress: &mut dyn FnMut(usize)) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(page) = self.next_page().await {
            out.extend(page?);
            progress(self.count);
        }
        Ok(out)
    }
}

impl<C: Unpin, T: Unpin> Stream for Paged<'_, C, T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let this = self.get_mut();
        loop {
            if let Some(item) = this.buffered.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            match ready!(this.poll_page(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(items)) => this.buffered = items.into_iter(),
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.buffered.len();
        match self.state {
            State::Done => (n, Some(n)),
            _ => (n, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A server of `pages` pages of `per` entries each; records the cursors it was sent.
    fn fake(pages: u32, per: u32, seen: Arc<Mutex<Vec<u32>>>) -> Paged<'static, u32, u32> {
        Paged::new("Fake", 0, move |cursor: u32| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(cursor);
                let page = cursor / 100;
                let items = (0..per).map(|i| page * per + i).collect();
                let next = (page + 1 < pages).then_some((page + 1) * 100);
                Ok(Page { items, next })
            }
        })
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn follows_the_cursor_and_stops_at_the_last_page() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut progress = Vec::new();
        let all = block_on(fake(3, 2, seen.clone()).collect(&mut |n| progress.push(n))).unwrap();
        assert_eq!(all, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(*seen.lock().unwrap(), vec![0, 100, 200]);
        assert_eq!(progress, vec![2, 4, 6]);
    }

    #[test]
    fn is_lazy_one_page_at_a_time() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut p = fake(5, 2, seen.clone());
        block_on(async {
            assert_eq!(p.try_next().await.unwrap(), Some(0));
            assert_eq!(p.try_next().await.unwrap(), Some(1));
            assert_eq!(
                seen.lock().unwrap().len(),
                1,
                "the second page is not fetched yet"
            );
            assert_eq!(p.try_next().await.unwrap(), Some(2));
            assert_eq!(seen.lock().unwrap().len(), 2);
        });
        assert_eq!(p.pages(), 2);
    }

    #[test]
    fn a_server_that_never_ends_is_cut_at_max_pages() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let err = block_on(
            fake(u32::MAX, 1, seen.clone())
                .max_pages(7)
                .collect(&mut |_| {}),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Reply { op: "Fake", what } if what.contains("more than 7 pages")),
            "{err}"
        );
        assert_eq!(seen.lock().unwrap().len(), 7);
    }

    #[test]
    fn an_error_ends_the_enumeration() {
        let calls = Arc::new(Mutex::new(0));
        let c = calls.clone();
        let mut p: Paged<'static, u32, u32> = Paged::new("Fails", 0, move |cursor| {
            let c = c.clone();
            async move {
                *c.lock().unwrap() += 1;
                if cursor == 0 {
                    Ok(Page {
                        items: vec![7],
                        next: Some(1),
                    })
                } else {
                    Err(Error::Reply {
                        op: "Fails",
                        what: "boom".into(),
                    })
                }
            }
        });
        block_on(async {
            assert_eq!(p.try_next().await.unwrap(), Some(7));
            assert!(p.try_next().await.is_err());
            assert_eq!(p.try_next().await.unwrap(), None, "nothing after an error");
        });
        assert_eq!(*calls.lock().unwrap(), 2);
    }

    #[test]
    fn is_a_stream() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut p = fake(2, 3, seen);
        let got = block_on(async {
            let mut got = Vec::new();
            while let Some(x) = poll_fn(|cx| Pin::new(&mut p).poll_next(cx)).await {
                got.push(x.unwrap());
            }
            got
        });
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(p.size_hint(), (0, Some(0)));
    }
}
