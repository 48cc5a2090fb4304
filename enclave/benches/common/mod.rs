//! What the vault benches share: a counting global allocator (peak heap), a realistic
//! channel state, and medians.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use enclave::vault::model::{ChannelState, Language, Phone, Role};
use rand::rngs::StdRng;

pub const NOW: u64 = 1_800_000_000;

/// Counts live heap bytes and their high-water mark.
struct Counting;

pub static LIVE: AtomicUsize = AtomicUsize::new(0);
pub static PEAK: AtomicUsize = AtomicUsize::new(0);

// The bench binary's only unsafe: forwarding to the system allocator to count bytes.
#[allow(unsafe_code)]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counters have no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            note_alloc(new_size);
        }
        p
    }
}

fn note_alloc(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

#[global_allocator]
static ALLOC: Counting = Counting;

pub fn phone(i: u64) -> Phone {
    Phone::parse(&format!("+1555{:07}", i)).expect("valid E.164")
}

/// ~5% admins, members/50 hotline records, members/100 invites, members/200 bans; member
/// languages cycle through `languages`.
pub fn realistic(members: u64, languages: &[Language], rng: &mut StdRng) -> ChannelState {
    let mut s = ChannelState::new(rng);
    for i in 0..members {
        let role = if i % 20 == 0 {
            Role::Admin
        } else {
            Role::Subscriber
        };
        let lang = languages[usize::try_from(i).unwrap_or(0) % languages.len()];
        s.add_member(phone(i * 3), role, lang)
            .expect("under limits");
    }
    for i in 0..members / 50 {
        s.hotline_id_for(&phone(i * 3 + 1), NOW - i * 60)
            .expect("under limits");
    }
    for i in 0..members / 100 {
        s.add_invite(&phone(i * 3), &phone(i * 3 + 2), NOW - i * 60)
            .expect("under limits");
    }
    for i in 0..members / 200 {
        s.ban(&phone(5_000_000 + i)).expect("under limits");
    }
    s
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
