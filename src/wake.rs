//! Waking event loops from other threads, one wake-up per loop per batch of work.
//!
//! A thread that finishes many things for the same loop (a database thread running a batch of
//! queries, a loop delivering the replies of another database connection) would otherwise wake
//! that loop once per thing: a system call each, and often a context switch. Inside
//! [`batched`], [`wake`] only remembers whom to wake; the wake-ups happen once, at the end.

use std::cell::RefCell;
use std::sync::Arc;

use mio::Waker;

thread_local! {
    /// The loops to wake when the current batch ends; `None` outside a batch.
    static PENDING: RefCell<Option<Vec<Arc<Waker>>>> = const { RefCell::new(None) };
}

/// Wakes `waker`'s loop: now, or at the end of the current [`batched`] call.
pub fn wake(waker: &Arc<Waker>) {
    let deferred = PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(wakers) => {
            if !wakers.iter().any(|known| Arc::ptr_eq(known, waker)) {
                wakers.push(Arc::clone(waker));
            }
            true
        }
        None => false,
    });
    if !deferred {
        let _ = waker.wake();
    }
}

/// Runs `work`, then wakes every loop [`wake`] was asked to wake meanwhile, once each, except
/// `this_loop` (the caller's own loop, which looks at its completions before it sleeps anyway).
pub fn batched<R>(this_loop: Option<&Arc<Waker>>, work: impl FnOnce() -> R) -> R {
    let outer = PENDING.with(|pending| pending.borrow_mut().replace(Vec::new()));
    let result = work();
    let wakers = PENDING.with(|pending| std::mem::replace(&mut *pending.borrow_mut(), outer));
    for waker in wakers.into_iter().flatten() {
        if !this_loop.is_some_and(|own| Arc::ptr_eq(own, &waker)) {
            wake(&waker);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_inside_a_batch_happen_once_at_its_end() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mut events = mio::Events::with_capacity(4);
        batched(None, || {
            wake(&waker);
            wake(&waker);
        });
        poll.poll(&mut events, Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(events.iter().count(), 1);
        // The caller's own loop is not woken.
        batched(Some(&waker), || wake(&waker));
        poll.poll(&mut events, Some(std::time::Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 0);
    }
}
